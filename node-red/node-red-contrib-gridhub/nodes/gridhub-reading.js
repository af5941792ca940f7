'use strict';
const { placeWithin, readingsFilter } = require('../lib/hub-client.js');

module.exports = function register(RED) {
  function GridHubReadingNode(config) {
    RED.nodes.createNode(this, config);
    const hub = RED.nodes.getNode(config.hub);
    if (!hub) {
      this.status({ fill: 'red', shape: 'ring', text: 'gridhub-reading.status.no-hub' });
      return;
    }
    const kinds = new Set((config.kinds || 'telemetry,event,status').split(',').filter(Boolean));
    const event = (config.event || '').trim();
    const place = (config.place || '').trim();
    const filter = readingsFilter(config.deviceType, config.deviceId);
    hub.register(this);
    hub.mqtt.subscribe(this.id, filter, (topic, reading) => {
      if (!kinds.has(reading.kind)) return;
      if (event && !(reading.kind === 'event' && reading.event === event)) return;
      if (!placeWithin(reading.place, place)) return;
      this.send({
        topic,
        deviceId: reading.deviceId,
        deviceType: reading.deviceType,
        payload: reading,
      });
    });
    this.on('close', (done) => {
      hub.mqtt.unsubscribe(this.id);
      hub.deregister(this);
      done();
    });
  }

  RED.nodes.registerType('gridhub-reading', GridHubReadingNode);
};
