// Feed actions of /whisk.system/messaging for the FaaS@Edge Kafka feed
// provider. Plain nodejs:20 code that uses only Node 20 built-ins (global
// fetch), so it runs on a stock Node.js invoker and on FaaS@Edge's JS
// runner alike. It is upstream's action/kafkaFeed.js and lib/common.js
// (apache/openwhisk-package-kafka) with request-promise replaced by fetch:
// the feed forwards the lifecycle event to the provider's endpoint, bound
// as the package parameter `endpoint` (upstream binds the API host and
// calls the kafkaFeedWeb web action; the provider serves the same path).

function addHTTPS(url) {
    if (!/^https?\:\/\//.test(url)) {
        url = "https://" + url;
    }
    return url;
}

// Return the trigger FQN with the resolved namespace, to avoid naming
// conflicts when using the default namespace "_".
function getTriggerFQN(triggerName) {
    var components = triggerName.split('/');
    return `/${process.env['__OW_NAMESPACE']}/${components[2]}`;
}

function massageParamsForWeb(rawParams) {
    var massagedParams = Object.assign({}, rawParams);

    // remove these parameters as they may conflict with bound parameters of the web action
    delete massagedParams.endpoint;
    delete massagedParams.bluemixServiceName;
    delete massagedParams.lifecycleEvent;

    return massagedParams;
}

function getWebActionURL(endpoint, dedicated, actionName) {
    var apiHost = addHTTPS(endpoint).replace(/\/+$/, '');
    var pkg = 'messagingWeb';
    if (dedicated === true || dedicated === 'true') {
        pkg = 'messagingWebDedicated';
    }

    return `${apiHost}/api/v1/web/whisk.system/${pkg}/${actionName}`;
}

// call sends one lifecycle request and gives the response body: parsed
// when it is JSON, else the text. A status other than 2xx rejects with the
// body, which the runtime returns as {error: body}, as upstream.
async function call(method, url, params, accept) {
    var options = {
        method: method,
        headers: { 'Accept': accept, 'User-Agent': 'whisk' }
    };
    if (method === 'GET') {
        var qs = [];
        for (var k in params) {
            var v = params[k];
            qs.push(encodeURIComponent(k) + '=' + encodeURIComponent(typeof v === 'string' ? v : JSON.stringify(v)));
        }
        url += '?' + qs.join('&');
    } else {
        options.headers['Content-Type'] = 'application/json';
        options.body = JSON.stringify(params);
    }
    var response;
    try {
        response = await fetch(url, options);
    } catch (e) {
        console.log(`Error reaching the feed provider at ${url}: ${e}`);
        throw `The Kafka feed provider is not reachable: ${e.message || e}`;
    }
    var text = await response.text();
    var body = text;
    try {
        body = JSON.parse(text);
    } catch (e) {
        // not JSON: the text itself
    }
    if (!response.ok) {
        console.log(`Error from the feed provider: ${response.status} ${text}`);
        throw body;
    }
    return body;
}

async function lifecycle(params, webActionName) {
    const endpoint = params.endpoint;

    var massagedParams = massageParamsForWeb(params);
    massagedParams.triggerName = getTriggerFQN(params.triggerName);
    var url = getWebActionURL(endpoint, params.dedicated, webActionName);

    if (params.lifecycleEvent === 'CREATE') {
        var uuid = await call('POST', url, massagedParams, 'text/plain');
        return { uuid: uuid };
    } else if (params.lifecycleEvent === 'READ') {
        return await call('GET', url, massagedParams, 'application/json');
    } else if (params.lifecycleEvent === 'UPDATE') {
        await call('PUT', url, massagedParams, 'text/plain');
        return {};
    } else if (params.lifecycleEvent === 'DELETE') {
        await call('DELETE', url, massagedParams, 'text/plain');
        return {};
    }

    return {
        error: 'unsupported lifecycleEvent'
    };
}
