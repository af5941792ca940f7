'use strict';
const { postJson } = require('../lib/hub-client.js');

const FIELDS = ['severity', 'category', 'title', 'detail', 'evidence', 'dedup', 'note'];

/** Flow names become rule ids `flow:<name>`; keep what the hub accepts. */
function slug(s) {
  const out = String(s || '')
    .trim()
    .replace(/[^A-Za-z0-9_.-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 64);
  return out || 'flow';
}

module.exports = function register(RED) {
  function GridHubRaiseAlertNode(config) {
    RED.nodes.createNode(this, config);
    const hub = RED.nodes.getNode(config.hub);
    const defaults = {
      flow: slug(config.flow || config.name || this.id),
      action: config.action || 'raise',
      severity: config.severity || 'minor',
      category: config.category || 'flow',
      title: config.title || '',
      detail: config.detail || '',
      dedup: config.dedup || 'per-device',
    };
    const controller = new AbortController();

    this.on('input', (msg, send, done) => {
      if (!hub) {
        done(new Error('no GridHub configured'));
        return;
      }
      // msg.alert overrides the node's settings; the device comes from msg.deviceId or the reading in payload
      const a = msg.alert && typeof msg.alert === 'object' ? msg.alert : {};
      const p = msg.payload && typeof msg.payload === 'object' ? msg.payload : {};
      const body = {
        flow: a.flow ? slug(a.flow) : defaults.flow,
        deviceId: a.deviceId || msg.deviceId || p.deviceId,
        action: a.action || (msg.action === 'clear' || msg.action === 'raise' ? msg.action : defaults.action),
      };
      for (const k of FIELDS) {
        const v = a[k] !== undefined ? a[k] : defaults[k];
        if (v !== undefined && v !== '') body[k] = v;
      }
      if (!body.deviceId) {
        done(
          new Error('no device id: set msg.deviceId, msg.alert.deviceId or pass a reading in msg.payload'),
        );
        return;
      }
      if (body.action === 'raise' && !body.title) body.title = `${body.flow}: ${body.deviceId}`;
      this.status({ fill: 'blue', shape: 'dot', text: `${body.action} ${body.deviceId}` });
      postJson(hub.httpUrl, '/api/integrations/alerts', hub.token, body, controller.signal).then(
        (answer) => {
          this.status({
            fill: 'green',
            shape: 'dot',
            text: `${answer.action} ${body.deviceId}: ${answer.status || answer.changes.join(',') || '-'}`,
          });
          msg.alertRequest = body;
          msg.payload = answer;
          msg.alertId = answer.alertId;
          send(msg);
          done();
        },
        (err) => {
          this.status({ fill: 'red', shape: 'ring', text: err.code || 'error' });
          done(err);
        },
      );
    });
    this.on('close', (done) => {
      controller.abort();
      done();
    });
  }

  RED.nodes.registerType('gridhub-raise-alert', GridHubRaiseAlertNode);
};
