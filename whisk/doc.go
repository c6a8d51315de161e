// Package whisk holds OpenWhisk's wire types and codecs as the stock
// controller and invoker write them: activation messages, acknowledgements,
// health pings, instance ids, transaction ids, byte sizes, action and
// activation documents, status codes and the exact error texts.
//
// JSON field order follows spray-json's output (struct field order), options
// that are None are omitted, and readers are liberal: a message the stock
// controller would accept is accepted here. The reference is
// shared/openwhisk-wire.md, read from apache/openwhisk's Scala source.
//
// whisk depends on nothing else in FaaS@Edge.
package whisk
