
/**
 *   Feed to listen to Message Hub (SASL_SSL Kafka) messages
 *  @param {string} kafka_brokers_sasl - array of brokers
 *  @param {string} user - SASL PLAIN username
 *  @param {string} password - SASL PLAIN password
 *  @param {string} kafka_admin_url - admin REST URL (required, as upstream; not used)
 *  @param {string} ssl_ca - optional PEM CA certificate of the brokers
 *  @param {string} topic - topic to subscribe to
 *  @param {bool}   isJSONData - attempt to parse messages as JSON
 *  @param {bool}   isBinaryKey - encode key as Base64
 *  @param {bool}   isBinaryValue - encode message as Base64
 *  @param {string} endpoint - address of the feed provider (expected to be bound at deployment)
 */
function main(params) {
    return lifecycle(params, 'messageHubFeedWeb');
}
