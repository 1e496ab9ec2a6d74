import EventStore
import Foundation
import Hummingbird
import Logging
import NIOCore
import PostgresClient
import Projections
import ServiceLifecycle
import Transparency
import Witnessing

/// The OpenAPI 3.1 document of the API: `openapi.json` in the repository, with the schema
/// of every command put in from the command table (`CommandSchemas`).
public enum OpenAPIDocument {
    public static let json: String = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"),
            let data = try? Data(contentsOf: url)
        else { return "{}" }
        return CommandSchemas.document(merging: String(decoding: data, as: UTF8.self))
    }()
}

/// Settings of `grantledger serve`.
public struct ServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var conninfo: String
    public var maxConnections: Int
    public var acquireTimeout: Double
    /// The log's key: signs checkpoints and command receipts; none without it.
    public var logSigner: NoteSigner?
    /// A second port, on loopback only, that serves `GET /metrics` without a token.
    public var metricsPort: Int?
    /// Hot standbys that answer reads (reports, lists, shows, events, proofs).
    public var readConninfos: [String]
    /// How often every read model is recomputed from the log and compared (zero: never).
    public var readModelCheckInterval: Duration = .seconds(3600)
    /// An HTTP connection that sends nothing for this long, idle or half-sent, is closed.
    public var idleTimeout: Duration = .seconds(30)
    /// The pseudonyms of confidential organisations for viewers (docs/domain.md §15); a key
    /// made for the process when none is configured.
    public var pseudonyms: Pseudonyms = .ephemeral()
    /// Where the log is published as C2SP tlog-tiles (`TileRoutes`).
    public var tilePrefix = "/log"
    /// The witnesses who must cosign a checkpoint before it is published (a tlog-policy).
    public var witnesses: WitnessCollector?
    /// The least time between two checkpoints of a growing log (and two rounds of witnesses).
    public var checkpointInterval: Duration = .seconds(5)

    /// A tile prefix: `/` and a path of letters, digits and `-._~`, no trailing `/`, not
    /// under the API's `/v1` nor one of its own paths.
    public static func isTilePrefix(_ prefix: String) -> Bool {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/")
        let segments = prefix.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        return prefix.count <= 100 && prefix.first == "/" && !segments.isEmpty
            && segments.allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." && $0.allSatisfy(allowed.contains) }
            && !["v1", "healthz", "readyz", "openapi.json", "metrics"].contains(segments.first.map(String.init) ?? "")
    }

    public init(
        host: String = "127.0.0.1", port: Int = 8080, conninfo: String, maxConnections: Int = 16,
        acquireTimeout: Double = 5, logSigner: NoteSigner? = nil, metricsPort: Int? = nil, readConninfos: [String] = []
    ) {
        self.logSigner = logSigner
        self.metricsPort = metricsPort
        self.readConninfos = readConninfos
        self.host = host
        self.port = port
        self.conninfo = conninfo
        self.maxConnections = maxConnections
        self.acquireTimeout = acquireTimeout
    }
}

/// Builds the HTTP application with its background services (projection catch-up).
public func buildApplication(_ configuration: ServerConfiguration, logger: Logger) -> some ApplicationProtocol {
    ServerMetrics.bootstrap()
    let pool = ConnectionPool(
        conninfo: configuration.conninfo, maxConnections: configuration.maxConnections,
        acquireTimeout: configuration.acquireTimeout, logger: logger)
    let replicas = ReadReplicas(
        conninfos: configuration.readConninfos, maxConnections: configuration.maxConnections,
        acquireTimeout: configuration.acquireTimeout, logger: logger)
    let services = ServerServices(
        pool: pool, logSigner: configuration.logSigner, replicas: replicas, pseudonyms: configuration.pseudonyms,
        witnesses: configuration.witnesses, checkpointInterval: TimeAmount(configuration.checkpointInterval))
    let router = buildRouter(services, tilePrefix: configuration.tilePrefix)
    var app = Application(
        router: router,
        server: .http1(configuration: .init(idleTimeout: TimeAmount(configuration.idleTimeout))),
        configuration: ApplicationConfiguration(
            address: .hostname(configuration.host, port: configuration.port), serverName: "grantledger"),
        services: [
            ProjectionService(
                conninfo: configuration.conninfo, runner: services.reporter.runner, logger: logger,
                observe: { lag in
                    ServerMetrics.background(
                        projections: lag.projections, unsealed: lag.unsealed, pool: pool.statistics)
                    ServerMetrics.reportCache(services.reportCacheCounts)
                },
                caughtUp: { head in
                    // Keep the in-memory I.3 index warm, so requests never wait for a load
                    // (each replica keeps its own when replicas answer the reports).
                    if replicas.isEmpty {
                        try await pool.withConnection {
                            try await services.reporter.memory.refresh(upTo: head.position, on: $0)
                        }
                    }
                    services.reporter.knownHead.update(head.position)
                    // The results framework's fold, once: the first report or drill-down
                    // then reads only what came since.
                    services.indicators.warm()
                    // Commands are decided from the log in memory: bring it forward too.
                    services.handler.memory?.startCatchingUp()
                    try await services.checkpoints.refresh()
                    try await services.integrity.refreshQuarantine(runner: services.reporter.runner)
                }),
            ReplicaService(replicas: replicas, logger: logger),
            ReadModelCheckService(
                pool: pool, watch: services.integrity, interval: configuration.readModelCheckInterval, logger: logger),
        ],
        logger: logger)
    if let metricsPort = configuration.metricsPort {
        // For a scraper on the same machine: loopback only, so no token is needed.
        let metricsRouter = Router()
        metricsRouter.get("/metrics") { _, _ in metricsResponse(services) }
        app.addServices(
            Application(
                router: metricsRouter,
                configuration: ApplicationConfiguration(
                    address: .hostname("127.0.0.1", port: metricsPort), serverName: "grantledger-metrics"),
                logger: logger))
    }
    // Serve no figure from a read model far behind the log: catch up once before listening
    // (a database that is down now only delays this; the background service retries).
    app.beforeServerStarts {
        // Commands go to the store's locks until the memory has read the log.
        services.handler.memory?.startCatchingUp()
        do {
            let head = try await services.reporter.runner.sealAndCatchUp()
            if replicas.isEmpty {
                try await services.pool.withConnection {
                    try await services.reporter.memory.refresh(upTo: head.position, on: $0)
                }
                // The first reports at the head take the period index, not the scan.
                services.reporter.memory.buildPeriodIndex()
            } else {
                await replicas.refresh(logger: logger)
                for replica in replicas.replicas { replica.reporter.memory.buildPeriodIndex() }
            }
            services.reporter.knownHead.update(head.position)
            try await services.checkpoints.refresh()
        } catch {
            logger.warning("could not catch up before serving", metadata: ["error.description": "\(error)"])
        }
    }
    return app
}
