// Live updates for the board, with the switchboard helper (/static/switchboard.js): autobahn.js
// joins switchboard with the Django session cookie (the router asks Django who we are), subscribes to
// the shared task topic from the position the page was rendered at and to this user's own topic, and
// stays live by itself: reconnections (also after a router GOODBYE), events published while the
// connection was down replayed once and in order, and a reload of the task list when the router's
// history cannot fill the gap (after a router restart).
import { connect } from "../switchboard.js";

const url = JSON.parse(document.getElementById("ws-url").textContent);
const renderedAt = JSON.parse(document.getElementById("tasks-position").textContent); // null: none kept
const serializer = new URLSearchParams(location.search).get("serializer") || "json";
const serializers = serializer === "msgpack"
  ? [new autobahn.serializer.MsgpackSerializer()]
  : [new autobahn.serializer.JSONSerializer()];
const stateEl = document.getElementById("state");
function state(text, connected) {
  stateEl.textContent = text;
  stateEl.className = connected ? "connected" : "";
}
function prepend(listId, text, taskId) {
  if (taskId !== undefined && document.querySelector(`#${listId} li[data-task="${taskId}"]`)) return; // shown already
  const li = document.createElement("li");
  li.textContent = text;
  li.className = "new";
  if (taskId !== undefined) li.dataset.task = taskId;
  document.getElementById(listId).prepend(li);
}
function showTask(t) { prepend("tasks", `${t.title} (${t.by})`, t.id); }

window.boardGaps = 0; // for the tests: how often the task list was reloaded
const sb = connect({
  autobahn, url, realm: "app", connectionOptions: { serializers, initial_retry_delay: 1, max_retry_delay: 10 },
  onOpen(session, details) {
    state(`connected as ${details.authid} (${serializer})`, true);
    if (!userSub) userSub = sb.subscribe(`app.user.${details.authid}.notifications`, (args) => prepend("notifications", args[0].text));
  },
  onState(s) {
    if (s !== "open") state(`disconnected; reconnecting…`, false);
  },
  // The router's history does not reach back to our last event (it restarted): reload the list.
  async onGap(topic) {
    if (topic !== "app.board.tasks") return;
    window.boardGaps++;
    const res = await fetch("tasks.json", { credentials: "same-origin" });
    const { tasks } = await res.json();
    const list = document.getElementById("tasks");
    list.replaceChildren();
    for (const t of tasks.slice().reverse()) showTask(t);
  },
});
let userSub = null;
sb.subscribe("app.board.tasks", (args) => showTask(args[0]), renderedAt === null ? {} : { since: renderedAt });

document.getElementById("count").addEventListener("click", function () {
  if (!sb.session) return;
  sb.session.call("app.board.count").then(
    (res) => { document.getElementById("count-result").textContent = `${res.args[0]} tasks (${res.kwargs.mine} yours)`; },
    (err) => { document.getElementById("count-result").textContent = `error: ${err.error}`; });
});
