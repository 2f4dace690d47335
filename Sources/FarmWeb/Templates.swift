import Mustache

/// The dashboard's Mustache templates, one per page plus the frame around them. `{{x}}` escapes
/// HTML; the only unescaped value, `{{{content}}}`, is a page these templates rendered. Values
/// reach them already formatted (ages, sizes), so the templates hold no logic.
enum Templates {
    static let frame = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        {{#refresh}}<meta http-equiv="refresh" content="{{refresh}}">{{/refresh}}
        <title>{{title}} · wheelfarm</title>
        <link rel="icon" href="data:,">
        <link rel="stylesheet" href="/dashboard/style.css">
        </head>
        <body>
        <header>
        <a class="brand" href="/dashboard/">wheelfarm</a>
        <nav><a href="/dashboard/">Overview</a> <a href="/dashboard/jobs">Jobs</a> <a href="/dashboard/requests">Requests</a> <a href="/dashboard/toolchains">Toolchains</a></nav>
        <form action="/dashboard/projects" method="get" role="search"><input type="search" name="q" placeholder="Find a project" value="{{query}}" aria-label="Find a project"></form>
        </header>
        <main>
        {{{content}}}
        </main>
        <script src="/dashboard/app.js" defer></script>
        </body>
        </html>

        """

    static let overview = """
        <h1>Overview</h1>
        <section class="cards">
        {{#counts}}<div class="card state-{{state}}"><span class="n">{{n}}</span> <span class="label">{{state}}</span></div>{{/counts}}
        {{^counts}}<p>No jobs yet: <code>wheelfarm build -r requirements.txt</code> queues some.</p>{{/counts}}
        </section>
        <p class="facts">{{total}} jobs. Oldest queued job: <strong id="queue-age">{{oldest}}</strong>.</p>
        {{#hasBuilders}}<h2>Builders</h2>
        <table><thead><tr><th>Builder</th><th>Running</th><th>Last progress</th></tr></thead><tbody>
        {{#builders}}<tr><td>{{name}}</td><td>{{running}}</td><td>{{lastSeen}}</td></tr>{{/builders}}
        </tbody></table>{{/hasBuilders}}
        <h2>Running</h2>
        {{#hasRunning}}<table><thead><tr><th>Job</th><th>Requirement</th><th>Target</th><th>Stage</th><th>Elapsed</th></tr></thead><tbody>{{/hasRunning}}
        {{#running}}<tr><td><a href="/dashboard/jobs/{{number}}">{{number}}</a></td><td><a href="/dashboard/projects/{{project}}">{{requirement}}</a></td><td>{{target}}</td><td>{{stage}}</td><td>{{elapsed}}</td></tr>{{/running}}
        {{#hasRunning}}</tbody></table>{{/hasRunning}}
        {{^running}}<p>Nothing is running.</p>{{/running}}
        <h2>Last failures</h2>
        {{#hasFailures}}<table><thead><tr><th>Job</th><th>Requirement</th><th>Target</th><th>Stage</th><th>Reason</th></tr></thead><tbody>{{/hasFailures}}
        {{#failures}}<tr><td><a href="/dashboard/jobs/{{number}}">{{number}}</a></td><td><a href="/dashboard/projects/{{project}}">{{requirement}}</a></td><td>{{target}}</td><td>{{stage}}</td><td class="reason">{{reason}}</td></tr>{{/failures}}
        {{#hasFailures}}</tbody></table>{{/hasFailures}}
        {{^failures}}<p>No failures.</p>{{/failures}}
        """

    static let jobs = """
        <h1>Jobs{{#filterText}} <small>{{filterText}}</small>{{/filterText}}</h1>
        <p class="filters">{{#states}}<a href="/dashboard/jobs?state={{.}}">{{.}}</a> {{/states}}<a href="/dashboard/jobs">all</a></p>
        <table><thead><tr><th>Job</th><th>Requirement</th><th>Target</th><th>State</th><th>Stage</th><th>Elapsed</th></tr></thead><tbody>
        {{#items}}<tr><td><a href="/dashboard/jobs/{{number}}">{{number}}</a></td><td><a href="/dashboard/projects/{{project}}">{{requirement}}</a></td><td>{{target}}</td><td class="state-{{state}}">{{state}}</td><td>{{stage}}</td><td>{{elapsed}}</td></tr>{{/items}}
        </tbody></table>
        {{^items}}<p>No jobs.</p>{{/items}}
        {{#next}}<p><a rel="next" href="{{next}}">Older jobs</a></p>{{/next}}
        """

    static let job = """
        <h1>Job {{number}}: {{requirement}}</h1>
        <p class="facts"><span class="state-{{state}}" id="job-state">{{state}}</span> for {{target}} · project <a href="/dashboard/projects/{{project}}">{{project}}</a>{{#version}} {{version}}{{/version}} · request <a href="/dashboard/jobs?request={{request}}">{{request}}</a> · attempt {{attempts}}{{#elapsed}} · {{elapsed}}{{/elapsed}}</p>
        {{#reason}}<p class="failure" id="failure">Failed at <strong>{{stage}}</strong>: <span id="failure-reason">{{reason}}</span></p>{{/reason}}
        {{#wheel}}<p>Wheel: <code>{{wheel}}</code></p>{{/wheel}}
        <section class="actions">
        <form class="action" method="post" action="/api/v1/jobs/{{number}}/retry" data-action="/api/v1/jobs/{{number}}/retry"><button type="submit" id="retry">Retry</button></form>
        <form class="action" method="post" action="/api/v1/jobs/{{number}}/cancel" data-action="/api/v1/jobs/{{number}}/cancel"><button type="submit" id="cancel">Cancel</button></form>
        <label>Operator token <input type="password" id="token" autocomplete="off" placeholder="wf_…"></label>
        <output id="action-result" role="status"></output>
        </section>
        {{#hasStages}}<h2>Stages</h2><div class="bar" role="img" aria-label="stage timings">{{/hasStages}}{{#stages}}<span class="seg seg-{{stage}}" style="width: {{percent}}%" title="{{stage}} {{seconds}}">{{stage}}</span>{{/stages}}{{#hasStages}}</div>
        <table class="compact"><tbody>{{/hasStages}}{{#stages}}<tr><td>{{stage}}</td><td>{{seconds}}</td></tr>{{/stages}}{{#hasStages}}</tbody></table>{{/hasStages}}
        {{#hasGrafted}}<h2>Grafted libraries</h2><ul>{{/hasGrafted}}{{#grafted}}<li><code>{{soname}}</code>{{#package}} from {{package}} {{version}}{{/package}}</li>{{/grafted}}{{#hasGrafted}}</ul>{{/hasGrafted}}
        {{#hasWarnings}}<h2>Warnings</h2><ul>{{/hasWarnings}}{{#warnings}}<li>{{.}}</li>{{/warnings}}{{#hasWarnings}}</ul>{{/hasWarnings}}
        <h2>Record</h2>
        <table class="compact"><tbody>
        {{#sdist}}<tr><td>sdist</td><td><code>{{sdist}}</code> sha256 <code>{{sdistSha256}}</code></td></tr>{{/sdist}}
        {{#toolchain}}<tr><td>toolchain</td><td><code>{{toolchain}}</code></td></tr>{{/toolchain}}
        <tr><td>created</td><td>{{created}}</td></tr>
        </tbody></table>
        <h2>Events</h2>
        <table class="compact"><thead><tr><th>At</th><th>From</th><th>To</th><th>Stage</th><th>Message</th></tr></thead><tbody>
        {{#events}}<tr><td>{{at}}</td><td>{{from}}</td><td>{{to}}</td><td>{{stage}}</td><td>{{message}}</td></tr>{{/events}}
        </tbody></table>
        <h2>Log</h2>
        {{#logTruncated}}<p class="note">The log's last 256 KiB.</p>{{/logTruncated}}
        {{^logAvailable}}<p class="note">No log yet.</p>{{/logAvailable}}
        <pre id="log" data-job="{{number}}" data-live="{{live}}" data-offset="{{logSize}}">{{log}}</pre>
        """

    static let project = """
        <h1>{{project}}</h1>
        {{^versions}}<p>The farm has no job for {{project}}.</p>{{/versions}}
        {{#hasVersions}}<div class="scroll"><table class="matrix"><thead><tr><th>Version</th>{{#targets}}<th>{{.}}</th>{{/targets}}</tr></thead><tbody>{{/hasVersions}}
        {{#versions}}<tr><th>{{version}}</th>{{#cells}}<td class="cell state-{{state}}">{{#present}}
        {{#wheel}}<div class="wheel"><a href="/dashboard/jobs/{{job}}">{{tag}}</a>{{#buildNumber}} <span class="build">build {{buildNumber}}</span>{{/buildNumber}}{{#size}} <span class="size">{{size}}</span>{{/size}}</div>
        {{#grafted}}<div class="graft"><code>{{soname}}</code>{{#package}} ({{package}} {{version}}){{/package}}</div>{{/grafted}}
        {{#signatureURL}}<div class="links"><a href="{{signatureURL}}">signature</a> <a href="{{provenanceURL}}">provenance</a></div>{{/signatureURL}}{{/wheel}}
        {{^wheel}}<div><a href="/dashboard/jobs/{{job}}">{{state}}</a>{{#stage}} at {{stage}}{{/stage}}</div>{{#reason}}<div class="reason">{{reason}}</div>{{/reason}}{{/wheel}}
        {{/present}}{{^present}}<span class="none">–</span>{{/present}}</td>{{/cells}}</tr>{{/versions}}
        {{#hasVersions}}</tbody></table></div>{{/hasVersions}}
        """

    static let search = """
        <h1>Projects matching “{{query}}”</h1>
        {{#hasMatches}}<ul>{{/hasMatches}}{{#matches}}<li><a href="/dashboard/projects/{{.}}">{{.}}</a></li>{{/matches}}{{#hasMatches}}</ul>{{/hasMatches}}
        {{^matches}}<p>No project starts with “{{query}}”.</p>{{/matches}}
        """

    static let requests = """
        <h1>Requests</h1>
        <table><thead><tr><th>Request</th><th>Kind</th><th>Description</th><th>Created</th><th>Jobs</th></tr></thead><tbody>
        {{#items}}<tr><td><a href="/dashboard/jobs?request={{id}}">{{id}}</a></td><td>{{kind}}</td><td>{{description}}</td><td>{{created}}</td><td>{{summary}}</td></tr>{{/items}}
        </tbody></table>
        {{^items}}<p>No requests yet.</p>{{/items}}
        {{#next}}<p><a rel="next" href="{{next}}">Older requests</a></p>{{/next}}
        """

    static let toolchains = """
        <h1>Toolchains</h1>
        <table><thead><tr><th>Image</th><th>Kind</th><th>Digest</th><th>Age</th><th>Packages</th><th>Size</th><th>Builds</th><th>State</th></tr></thead><tbody>
        {{#rows}}<tr><td>{{name}}</td><td>{{kind}}</td><td><code>{{digest}}</code></td><td>{{age}}</td><td>{{packages}}</td><td>{{size}}</td><td>{{builds}}</td><td>{{state}}</td></tr>{{/rows}}
        </tbody></table>
        {{^rows}}<p>No image is built yet: <code>wheelfarm toolchain build TARGET</code>.</p>{{/rows}}
        """

    static let notFound = """
        <h1>Not found</h1>
        <p>{{message}}</p>
        """

    /// The compiled library; a template that does not parse is a programming error found by the tests.
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        for (name, text) in [
            ("frame", frame), ("overview", overview), ("jobs", jobs), ("job", job), ("project", project), ("search", search),
            ("requests", requests), ("toolchains", toolchains), ("notFound", notFound)
        ] {
            if let template = try? MustacheTemplate(string: text) { library.register(template, named: name) }
        }
        return library
    }()
}
