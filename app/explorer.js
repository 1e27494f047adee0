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
  var INTROSPECT_DELAY_MS = 400;
  var FORGET_AGAIN_MS = 700; // past GraphiQL's 500 ms storage debounce
  var NO_KEY = "Put your API key in the Headers tab ({\"Authorization\": \"Bearer jq_...\"}): "
    + "the schema and its documentation load as soon as it is there";

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
    var key = authorization(options && options.headers);
    if (params.operationName === "IntrospectionQuery" && (!key || key === config.placeholder)) {
      // No key yet: say what to do, rather than ask the server for a 401.
      return Promise.resolve({ errors: [{ message: NO_KEY }] });
    }
    return overHttp(params, options);
  }

  // GraphiQL introspects again whenever its fetcher changes: a new key (typed or pasted) loads
  // the schema at once, without the refetch button. Debounced, so typing a key costs one request.
  var currentKey;
  var timer = null;
  function headersEdited(text) {
    window.clearTimeout(timer);
    timer = window.setTimeout(function () {
      var headers;
      try {
        headers = JSON.parse(text || "{}");
      } catch (error) {
        return; // half-typed JSON: wait for the next edit
      }
      var key = authorization(headers);
      if (key === currentKey) return;
      currentKey = key;
      render(function (params, options) { return fetcher(params, options); });
    }, INTROSPECT_DELAY_MS);
  }

  // Headers are remembered only when the user turns on "Persist headers" in the settings
  // dialog (off by default). GraphiQL keeps that choice in localStorage but resets it to its
  // prop at each load, so the prop must repeat the stored choice.
  function persistHeaders() {
    try {
      return window.localStorage.getItem("graphiql:shouldPersistHeaders") === "true";
    } catch (error) {
      return false; // storage disabled: nothing is remembered
    }
  }

  // Two gaps of GraphiQL 3.9's "Persist headers", closed through its own setter:
  // - at each load it stores the headers once more, before its headers editor exists, so it
  //   stores none and the key would survive one reload only: once the editor exists, store
  //   them again;
  // - stores it scheduled (500 ms after an edit) before the setting was turned off write the
  //   key back after it: once they have run, clear again.
  function KeepRememberedHeaders() {
    var editors = GraphiQL.React.useEditorContext();
    var setPersist = React.useRef(editors.setShouldPersistHeaders);
    setPersist.current = editors.setShouldPersistHeaders;
    var persisting = editors.shouldPersistHeaders;
    var wasPersisting = React.useRef(persisting);
    React.useEffect(function () {
      if (editors.headerEditor && persisting) setPersist.current(true);
    }, [editors.headerEditor]); // eslint-disable-line react-hooks/exhaustive-deps
    React.useEffect(function () {
      var turnedOff = wasPersisting.current && !persisting;
      wasPersisting.current = persisting;
      if (!turnedOff) return undefined;
      var timer = window.setTimeout(function () { setPersist.current(false); }, FORGET_AGAIN_MS);
      return function () { window.clearTimeout(timer); };
    }, [persisting]);
    return null;
  }

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  var shouldPersistHeaders = persistHeaders();
  function render(currentFetcher) {
    root.render(React.createElement(GraphiQL, {
      fetcher: currentFetcher,
      defaultQuery: config.query,
      defaultHeaders: config.headers,
      onEditHeaders: headersEdited,
      shouldPersistHeaders: shouldPersistHeaders,
      showPersistHeadersSettings: true,
      defaultEditorToolsVisibility: config.showHeaders ? "headers" : true,
      toolbar: { additionalContent: React.createElement(KeepRememberedHeaders) },
    }));
  }
  render(fetcher);
})();
