'use strict';
const { createMqttShare } = require('../lib/hub-client.js');

module.exports = function register(RED) {
  function GridHubConfigNode(config) {
    RED.nodes.createNode(this, config);
    this.name = config.name;
    this.httpUrl = (config.httpUrl || 'http://127.0.0.1:8080').replace(/\/+$/, '');
    this.mqttUrl = config.mqttUrl || 'mqtt://127.0.0.1:1883';
    const creds = this.credentials || {};
    // `${ENV_VAR}` in a credential reads the variable, as Node-RED does for ordinary properties, so a
    // deployment can inject the token without storing it in flows_cred.json.
    const fromEnv = (v) => {
      const m = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(v || '');
      return m ? (process.env[m[1]] ?? '') : v || '';
    };
    this.username = fromEnv(creds.username);
    this.token = fromEnv(creds.token);
    const users = new Set();
    let state = 'disconnected';
    this.state = () => state;
    this.register = (node) => {
      users.add(node);
      node.status(statusOf(state));
    };
    this.deregister = (node) => users.delete(node);
    const statusOf = (s) =>
      s === 'connected'
        ? { fill: 'green', shape: 'dot', text: 'node-red:common.status.connected' }
        : s === 'connecting'
          ? { fill: 'yellow', shape: 'ring', text: 'node-red:common.status.connecting' }
          : { fill: 'red', shape: 'ring', text: 'node-red:common.status.disconnected' };
    this.mqtt = createMqttShare({
      mqttUrl: this.mqttUrl,
      username: this.username,
      token: this.token,
      log: (m) => this.warn(m),
      onState: (s) => {
        state = s === 'error' ? state : s;
        for (const n of users) n.status(statusOf(state));
      },
    });
    this.on('close', (_removed, done) => {
      users.clear();
      this.mqtt.close().then(() => done(), done);
    });
  }

  RED.nodes.registerType('gridhub-config', GridHubConfigNode, {
    credentials: {
      username: { type: 'text' },
      token: { type: 'password' },
    },
  });
};
