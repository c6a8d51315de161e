
/**
 *   Feed to listen to Kafka messages
 *  @param {string} brokers - array of Kafka brokers
 *  @param {string} topic - topic to subscribe to
 *  @param {bool}   isJSONData - attempt to parse messages as JSON
 *  @param {bool}   isBinaryKey - encode key as Base64
 *  @param {bool}   isBinaryValue - encode message as Base64
 *  @param {string} security_protocol - optional: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL
 *  @param {string} sasl_mechanism - optional: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
 *  @param {string} user, password - optional SASL credentials
 *  @param {string} ssl_ca - optional PEM CA certificate for SSL
 *  @param {string} endpoint - address of the feed provider (expected to be bound at deployment)
 */
function main(params) {
    return lifecycle(params, 'kafkaFeedWeb');
}
