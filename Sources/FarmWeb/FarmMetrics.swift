import FarmCore
import FarmStore
import Foundation
import Prometheus
import RepositoryServer
import WheelBuilder
import WheelfarmBasics

/// The farm's metrics in Prometheus' text format. Counters of this process (requests, uploads)
/// grow as they happen; what lives in the store (jobs by state and target, the queue's age,
/// builders' last progress, stage durations of stored builds) is read at each scrape, so every
/// farm process and builder feeds the same numbers.
public final class FarmMetrics: ServerObserver, @unchecked Sendable {
    let registry = PrometheusCollectorRegistry()
    let queries: DashboardQueries?
    private let lock = NSLock()
    /// Stored builds whose stage times are in the histograms already.
    private var observed = Set<String>()
    private var jobGauges: [String: Gauge] = [:]
    private var builderGauges: [String: Gauge] = [:]
    private let queueAge: Gauge
    private let up: Gauge

    /// Buckets for a stage's seconds: from a quick audit to a long compile.
    static let stageBuckets: [Double] = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600]
    static let requestBuckets: [Double] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5]
    static let uploadBuckets: [Double] = [1 << 14, 1 << 17, 1 << 20, 1 << 23, 1 << 26, 1 << 29].map(Double.init)

    static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "wheelfarm", metricName: metric, unitName: unit, helpText: help)
    }

    public init(queries: DashboardQueries?) {
        self.queries = queries
        queueAge = registry.makeGauge(descriptor: Self.name("queue_oldest", "seconds", "Seconds the oldest queued job has waited (0: none waits)."))
        up = registry.makeGauge(descriptor: Self.name("up", "", "1 while this wheelfarm serve process runs."))
        up.set(Double(1))
    }

    public func served(area: String, status: Int, seconds: Double) {
        registry.makeCounter(
            descriptor: Self.name("http_requests", "total", "HTTP requests served, by area and status."), labels: [("area", area), ("status", String(status))]
        ).increment()
        registry.makeValueHistogram(
            descriptor: Self.name("http_request", "seconds", "Server time of HTTP requests, by area."), labels: [("area", area)], buckets: Self.requestBuckets
        ).record(seconds)
    }

    public func uploaded(bytes: Int, status: Int) {
        registry.makeValueHistogram(
            descriptor: Self.name("upload", "bytes", "Sizes of uploads to the repository, accepted or refused."),
            labels: [("accepted", status < 300 ? "true" : "false")], buckets: Self.uploadBuckets
        ).record(Double(bytes))
    }

    /// The text exposition, with the store's numbers read now.
    public func render(now: Double = Date().timeIntervalSince1970) -> String {
        if let queries { refresh(queries, now: now) }
        return registry.emitToString()
    }

    func refresh(_ queries: DashboardQueries, now: Double) {
        lock.lock()
        defer { lock.unlock() }
        if let counts = try? queries.store.countsByTarget() {
            var seen = Set<String>()
            for (target, states) in counts {
                for state in JobState.allCases {
                    let key = "\(target)\u{0}\(state.rawValue)"
                    seen.insert(key)
                    let gauge =
                        jobGauges[key]
                        ?? registry.makeGauge(
                            descriptor: Self.name("jobs", "", "Jobs in the store, by state and target."),
                            labels: [("state", state.rawValue), ("target", target)])
                    jobGauges[key] = gauge
                    gauge.set(Double(states[state] ?? 0))
                }
            }
            for (key, gauge) in jobGauges where !seen.contains(key) { gauge.set(Double(0)) }
        }
        queueAge.set((try? queries.store.oldestQueuedAt()).flatMap { $0 }.map { max(0, now - $0) } ?? 0)
        if let overview = try? queries.overview(now: now) {
            for builder in overview.builders {
                let gauge =
                    builderGauges[builder.name]
                    ?? registry.makeGauge(
                        descriptor: Self.name("builder_last_progress", "seconds", "Seconds since a builder's running jobs last reported progress."),
                        labels: [("builder", builder.name)])
                builderGauges[builder.name] = gauge
                gauge.set(max(0, now - builder.lastSeen))
            }
            for result in ["succeeded", "skipped", "failed", "cancelled"] {
                registry.makeGauge(descriptor: Self.name("builds", "", "Finished jobs in the store, by result."), labels: [("result", result)])
                    .set(Double(overview.counts[result] ?? 0))
            }
        }
        // Each stored build's stage times go into the histograms once.
        for record in queries.storedRecords() {
            let key = "\(record.project)/\(record.version)/\(record.target)/\(record.startedAt.timeIntervalSince1970)"
            guard observed.insert(key).inserted else { continue }
            for stage in record.stages where stage.build == nil {
                registry.makeValueHistogram(
                    descriptor: Self.name("stage", "seconds", "Seconds each build stage took, over the stored builds."),
                    labels: [("stage", stage.stage.rawValue)], buckets: Self.stageBuckets
                ).record(stage.seconds)
            }
        }
    }
}
