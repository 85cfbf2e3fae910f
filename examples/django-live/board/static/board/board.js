// Live updates for the board: autobahn.js joins switchboard with the
// Django session cookie (the router asks Django who we are), subscribes to
// the shared task topic and to this user's own topic, and reconnects.
(function () {
  "use strict";
  const url = JSON.parse(document.getElementById("ws-url").textContent);
  const serializer = new URLSearchParams(location.search).get("serializer") || "json";
  const serializers = serializer === "msgpack"
    ? [new autobahn.serializer.MsgpackSerializer()]
    : [new autobahn.serializer.JSONSerializer()];
  const stateEl = document.getElementById("state");
  function state(text, connected) {
    stateEl.textContent = text;
    stateEl.className = connected ? "connected" : "";
  }
  function prepend(listId, text) {
    const li = document.createElement("li");
    li.textContent = text;
    li.className = "new";
    document.getElementById(listId).prepend(li);
  }

  let session = null;
  const connection = new autobahn.Connection({
    url, realm: "app", serializers,
    max_retries: -1, initial_retry_delay: 1, max_retry_delay: 10,
  });
  connection.onopen = function (s, details) {
    session = s;
    state(`connected as ${details.authid} (${serializer})`, true);
    s.subscribe("app.board.tasks", (args) => prepend("tasks", `${args[0].title} (${args[0].by})`));
    s.subscribe(`app.user.${details.authid}.notifications`, (args) => prepend("notifications", args[0].text));
  };
  connection.onclose = function (reason, details) {
    session = null;
    if (details.will_retry) {
      state(`disconnected (${reason}); reconnecting in ${Math.round(details.retry_delay)} s…`, false);
      return false; // let autobahn retry
    }
    // autobahn gives up after the router's GOODBYE (a restart or deploy
    // sends wamp.close.system_shutdown): start over, with some jitter so that
    // all pages do not come back at the same instant.
    state(`disconnected (${details.reason || reason}); reconnecting…`, false);
    setTimeout(() => connection.open(), 1000 + Math.random() * 2000);
    return true;
  };
  document.getElementById("count").addEventListener("click", function () {
    if (!session) return;
    session.call("app.board.count").then(
      (res) => { document.getElementById("count-result").textContent = `${res.args[0]} tasks (${res.kwargs.mine} yours)`; },
      (err) => { document.getElementById("count-result").textContent = `error: ${err.error}`; });
  });
  connection.open();
})();
