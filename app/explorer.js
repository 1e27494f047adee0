// The explorer page's one inline script (app/explorer.py inlines it and allows it by its hash).
// Queries and mutations go over HTTP, subscriptions over graphql-transport-ws on the same URL,
// each with the Authorization header of GraphiQL's Headers tab as it is when the operation runs.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("jobql-explorer-config").textContent);
  // GraphiQL's dialogs add a <style> element at run time; it stamps it with this nonce.
  window.__webpack_nonce__ = config.styleNonce;

  var endpoint = new URL(config.url, window.location.href);
  var socket = new URL(endpoint.href);
  socket.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";
  var overHttp = GraphiQL.createFetcher({ url: endpoint.href });

  function authorization(headers) {
    var names = Object.keys(headers || {});
    for (var i = 0; i < names.length; i++) {
      if (names[i].toLowerCase() === "authorization") return String(headers[names[i]]);
    }
    return null;
  }

  function isSubscription(document, operationName) {
    var operations = ((document && document.definitions) || []).filter(function (node) {
      return node.kind === "OperationDefinition";
    });
    var chosen = operations.filter(function (node) {
      return operationName ? node.name && node.name.value === operationName : true;
    });
    return chosen.length === 1 && chosen[0].operation === "subscription";
  }

  // What graphql-ws hands to `error`, as the result pane shows errors: {message, extensions}.
  function describe(error) {
    if (Array.isArray(error)) return error; // the server's GraphQL errors, as they came
    if (error && typeof error.code === "number") {
      var why = error.reason ? error.code + " " + error.reason : String(error.code);
      if (error.code === 4403) {
        return { message: "The server refused the API key (WebSocket closed " + why + "): "
          + "put a valid key in the Authorization header of the Headers tab, then run again" };
      }
      return { message: "The live connection closed (" + why + "): run the subscription again" };
    }
    return { message: String((error && error.message) || error) };
  }

  // One connection per subscription: its connection_init carries the key the Headers tab holds
  // when the subscription starts, so a changed key takes effect at the next run. No automatic
  // retry: a new subscription from "HEAD" would silently skip what happened while it was down,
  // so the pane says that the connection ended instead.
  function subscription(params, headers) {
    var key = authorization(headers);
    return {
      subscribe: function (observer) {
        var client = graphqlWs.createClient({
          url: socket.href,
          connectionParams: key ? { Authorization: key } : {},
          retryAttempts: 0,
        });
        var stop = client.subscribe(params, {
          next: function (result) { observer.next(result); },
          error: function (error) { observer.error(describe(error)); client.dispose(); },
          complete: function () { observer.complete(); client.dispose(); },
        });
        return { unsubscribe: function () { stop(); client.dispose(); } };
      },
    };
  }

  function fetcher(params, options) {
    if (isSubscription(options && options.documentAST, params.operationName)) {
      return subscription(params, options.headers);
    }
    return overHttp(params, options);
  }

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, {
    fetcher: fetcher,
    defaultQuery: config.query,
    headers: config.headers,
    defaultHeaders: config.headers,
    shouldPersistHeaders: false,
    defaultEditorToolsVisibility: config.showHeaders ? "headers" : true,
  }));
})();
