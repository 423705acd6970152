// The official Socket.IO client, as a browser or a phone app would use it: connect with the
// access token, subscribe to a board, post a workout over HTTP, and wait for rank:update.
// Every event is printed as one JSON line for tests/live/test_js_client.py to check.
// Usage: node subscribe_and_post.mjs <base url> <token> <board> <workout json>
import { io } from "socket.io-client";

const [url, token, board, workout] = process.argv.slice(2);
const print = (event, payload) => console.log(JSON.stringify({ event, payload }));
const finish = (code) => {
  socket.close();
  process.exit(code);
};
// Bounded: the test never hangs on a client that hears nothing.
const deadline = setTimeout(() => {
  print("timeout", null);
  finish(2);
}, 20000);

// Default options: long-polling first, then the upgrade to a websocket, at /socket.io.
const socket = io(url, { auth: { token }, reconnection: false });

socket.on("connect_error", (error) => {
  print("connect_error", error.message);
  finish(1);
});
for (const event of ["workout:processed", "leaderboard:update", "rank:overtaken"]) {
  socket.on(event, (payload) => print(event, payload));
}
socket.on("rank:update", (payload) => {
  print("rank:update", payload);
  if (payload.board === board) {
    clearTimeout(deadline);
    print("transport", socket.io.engine.transport.name);
    finish(0);
  }
});
socket.on("connect", async () => {
  const ack = await socket.timeout(10000).emitWithAck("subscribe", { board });
  print("ack", ack);
  if (!ack.ok) finish(1);
  const response = await fetch(`${url}/v1/workouts`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: workout,
  });
  print("posted", { status: response.status, body: await response.json() });
});
