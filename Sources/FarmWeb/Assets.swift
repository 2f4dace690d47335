/// The dashboard's one stylesheet and its one script. The pages work without the script; it
/// adds the live log (Server-Sent Events) and sends operator actions with the token in a
/// header (a cross-site form cannot set one, so actions are safe from forged requests).
enum Assets {
    static let style = """
        :root { --fg: #1d2125; --muted: #5b6570; --line: #d8dde3; --ok: #1a7f37; --bad: #c62828; --run: #0b62c4; --wait: #8a6d00; --bg: #fff; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
        header { display: flex; flex-wrap: wrap; gap: .5rem 1.25rem; align-items: center; padding: .6rem 1rem; border-bottom: 1px solid var(--line); }
        header .brand { font-weight: 700; color: var(--fg); text-decoration: none; }
        header nav a { margin-right: .8rem; }
        header form { margin-left: auto; }
        input[type=search], input[type=password] { font: inherit; padding: .25rem .45rem; border: 1px solid var(--line); border-radius: 4px; }
        main { padding: 1rem; max-width: 1200px; }
        h1 { font-size: 1.4rem; margin: .2rem 0 .8rem; word-break: break-word; }
        h2 { font-size: 1.1rem; margin-top: 1.4rem; }
        a { color: var(--run); }
        table { border-collapse: collapse; width: 100%; margin: .4rem 0; }
        th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
        table.compact td, table.compact th { padding: .15rem .4rem; font-size: .9rem; }
        .scroll { overflow-x: auto; }
        .cards { display: flex; flex-wrap: wrap; gap: .6rem; }
        .card { border: 1px solid var(--line); border-radius: 6px; padding: .5rem .8rem; min-width: 7rem; }
        .card .n { font-size: 1.5rem; font-weight: 700; display: block; }
        .facts { color: var(--muted); }
        .state-succeeded, .state-skipped { color: var(--ok); }
        .state-failed, .state-cancelled { color: var(--bad); }
        .state-running { color: var(--run); }
        .state-queued, .state-waiting { color: var(--wait); }
        td.cell { min-width: 11rem; color: var(--fg); }
        td.cell.state-failed { background: #fdecea; }
        td.cell.state-succeeded, td.cell.state-skipped { background: #eaf6ec; }
        .reason, .failure { color: var(--bad); word-break: break-word; }
        .graft, .links, .build, .size { font-size: .85rem; color: var(--muted); }
        .bar { display: flex; height: 1.4rem; border-radius: 4px; overflow: hidden; border: 1px solid var(--line); margin: .3rem 0; }
        .seg { font-size: .7rem; color: #fff; background: var(--run); overflow: hidden; white-space: nowrap; padding: 0 .2rem; border-right: 1px solid #fff; }
        .seg:nth-child(2n) { background: #3f8ae0; }
        pre#log { background: #0f1419; color: #e6e6e6; padding: .7rem; max-height: 32rem; overflow: auto; font-size: .8rem; white-space: pre-wrap; word-break: break-all; }
        .actions { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin: .6rem 0; }
        .actions form { margin: 0; }
        button { font: inherit; padding: .25rem .8rem; border: 1px solid var(--line); border-radius: 4px; background: #f5f7f9; cursor: pointer; }
        .note { color: var(--muted); font-size: .9rem; }
        @media (max-width: 600px) {
          header form { margin-left: 0; width: 100%; } header input[type=search] { width: 100%; } main { padding: .6rem; }
          table { display: block; overflow-x: auto; max-width: 100%; }
          td, th { word-break: break-word; }
        }

        """

    static let script = """
        "use strict";
        // Live log: appends what the build prints, as text (never as HTML).
        (function () {
          const log = document.getElementById("log");
          if (!log || log.dataset.live !== "true" || !window.EventSource) return;
          const source = new EventSource("/dashboard/jobs/" + log.dataset.job + "/stream?offset=" + (log.dataset.offset || "0"));
          source.addEventListener("log", function (event) {
            const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
            log.appendChild(document.createTextNode(event.data + "\\n"));
            if (atEnd) log.scrollTop = log.scrollHeight;
          });
          source.addEventListener("end", function (event) {
            source.close();
            const state = document.getElementById("job-state");
            if (state) { state.textContent = event.data; state.className = "state-" + event.data; }
          });
          source.onerror = function () { source.close(); };
        })();
        // Operator actions: POST with the token in a header, never a cookie.
        (function () {
          const token = document.getElementById("token");
          const result = document.getElementById("action-result");
          if (token && window.sessionStorage) token.value = sessionStorage.getItem("wheelfarm-token") || "";
          document.querySelectorAll("form.action").forEach(function (form) {
            form.addEventListener("submit", function (event) {
              event.preventDefault();
              const value = token ? token.value.trim() : "";
              if (value && window.sessionStorage) sessionStorage.setItem("wheelfarm-token", value);
              const headers = value ? { "Authorization": "Bearer " + value } : {};
              fetch(form.dataset.action, { method: "POST", headers: headers, credentials: "omit" })
                .then(function (response) { return response.json().then(function (body) { return { status: response.status, body: body }; }); })
                .then(function (answer) {
                  if (!result) return;
                  result.textContent = answer.status < 300 ? "job " + answer.body.number + " is " + answer.body.state : "refused: " + (answer.body.error || answer.status);
                  result.className = answer.status < 300 ? "state-" + answer.body.state : "state-failed";
                })
                .catch(function () { if (result) result.textContent = "the server did not answer"; });
            });
          });
        })();

        """
}
