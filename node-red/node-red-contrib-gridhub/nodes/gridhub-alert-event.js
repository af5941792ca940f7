'use strict';
const { followAlertStream, placeWithin, safeUrl } = require('../lib/hub-client.js');

module.exports = function register(RED) {
  function GridHubAlertEventNode(config) {
    RED.nodes.createNode(this, config);
    const hub = RED.nodes.getNode(config.hub);
    if (!hub) {
      this.status({ fill: 'red', shape: 'ring', text: 'gridhub-alert-event.status.no-hub' });
      return;
    }
    const changes = new Set(
      (config.changes || '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    );
    const severities = new Set((config.severities || '').split(',').filter(Boolean));
    const place = (config.place || '').trim();
    let lastError = '';
    const stop = followAlertStream({
      httpUrl: hub.httpUrl,
      token: hub.token,
      onState: (s, err) => {
        if (s === 'connected') {
          lastError = '';
          this.status({ fill: 'green', shape: 'dot', text: 'node-red:common.status.connected' });
        } else if (s === 'connecting') {
          this.status({ fill: 'yellow', shape: 'ring', text: 'node-red:common.status.connecting' });
        } else {
          this.status({ fill: 'red', shape: 'ring', text: 'node-red:common.status.disconnected' });
          const m = err ? err.message : '';
          // one warning per distinct failure, not one per retry
          if (m && m !== lastError) this.warn(`GridHub alert stream ${safeUrl(hub.httpUrl)}: ${m}`);
          lastError = m;
        }
      },
      onMessage: (msg) => {
        if (changes.size > 0 && !changes.has(msg.type)) return;
        const alert = msg.alert || {};
        if (severities.size > 0 && !severities.has(alert.severity)) return;
        if (!placeWithin(msg.place, place)) return;
        this.send({ topic: `alert/${msg.type}`, alertId: msg.alertId, payload: msg });
      },
    });
    this.on('close', (done) => {
      stop();
      done();
    });
  }

  RED.nodes.registerType('gridhub-alert-event', GridHubAlertEventNode);
};
