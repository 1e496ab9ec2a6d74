import EventStore
import Exports
import Foundation
import GrantDomain
import HTTPTypes
import Hummingbird
import Ledger
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresClient
import Projections
import Transparency
import Witnessing

/// What the routes need.
public struct ServerServices: Sendable {
    public let pool: ConnectionPool
    public let handler: CommandHandler
    public let store: EventStore
    public let reporter: I3Reporter
    let tokens: TokenCache
    let readiness: Readiness
    /// Quarantined events and the last read-model check (`/readyz`, `/metrics`).
    let integrity = IntegrityWatch()
    let verification = SingleFlight()
    let entities: EntityQueries
    /// The results framework's fold of the log, kept in memory for reports at the head.
    let indicators: IndicatorMemory
    /// Confidential organisations' pseudonyms, for viewers (docs/domain.md §15).
    let pseudonyms: Pseudonyms
    let checkpoints: CheckpointPublisher
    /// Hot standbys for reads; none by default.
    let replicas: ReadReplicas

    /// The I.3 report caches' hits and lookups, the primary's and every replica's.
    var reportCacheCounts: (hits: Int, lookups: Int) {
        ([reporter] + replicas.replicas.map(\.reporter)).map(\.cacheCounts).reduce((0, 0)) {
            ($0.0 + $1.hits, $0.1 + $1.lookups)
        }
    }

    /// - Parameters:
    ///   - logSigner: the log's key: signs checkpoints and command receipts.
    ///   - replicas: hot standbys that answer reads.
    ///   - witnesses: the policy's witnesses, who must cosign a checkpoint before it is published.
    ///   - checkpointInterval: the least time between two checkpoints of a growing log.
    public init(
        pool: ConnectionPool, logSigner: NoteSigner? = nil, replicas: ReadReplicas? = nil,
        pseudonyms: Pseudonyms = .ephemeral(), witnesses: WitnessCollector? = nil,
        checkpointInterval: TimeAmount = .seconds(5)
    ) {
        self.pool = pool
        self.pseudonyms = pseudonyms
        self.replicas =
            replicas
            ?? ReadReplicas(conninfos: [], maxConnections: 1, acquireTimeout: 1, logger: Logger(label: "replicas"))
        self.checkpoints = CheckpointPublisher(
            signer: logSigner, pool: pool, witnesses: witnesses, minimumInterval: checkpointInterval)
        self.handler = CommandHandler(
            pool: pool, signOffFigures: LogFigures.signOffProvider(pool: pool),
            memory: CommandMemory(store: EventStore(pool: pool)), groupCommit: true)
        self.store = EventStore(pool: pool)
        self.reporter = I3Reporter(pool: pool)
        self.tokens = TokenCache(store: TokenStore(pool: pool))
        self.readiness = Readiness(pool: pool)
        self.entities = EntityQueries(pool: pool)
        self.indicators = IndicatorMemory(store: EventStore(pool: pool), knownHead: reporter.knownHead)
    }
}

typealias Handler = @Sendable (Request, LedgerRequestContext) async throws -> Response

/// A route as OpenAPI names it (`/v1/grants/{id}`), the roles it admits (none: public) and
/// its handler.
struct Route {
    let method: HTTPRequest.Method
    let path: String
    let roles: [Role]
    let handler: Handler
}

/// Registers routes and remembers them, so the route list cannot drift from the router.
/// `group(roles...)` gives the registry of a router group that admits only those roles
/// (`RequireRole`), as Hummingbird's own examples carry authorisation.
final class RouteRegistry: @unchecked Sendable {
    private let routes: RouteList
    private let group: RouterGroup<LedgerRequestContext>
    let roles: [Role]

    /// The registry of `router`'s public routes.
    convenience init(router: Router<LedgerRequestContext>) {
        self.init(group: router.group(), roles: [], routes: RouteList())
    }

    private init(group: RouterGroup<LedgerRequestContext>, roles: [Role], routes: RouteList) {
        self.group = group
        self.roles = roles
        self.routes = routes
    }

    /// A registry whose routes admit only `roles` (401 without a token, 403 with another role).
    func group(_ roles: Role...) -> RouteRegistry {
        RouteRegistry(group: group.group().add(middleware: RequireRole(roles)), roles: roles, routes: routes)
    }

    /// Every route registered through this registry or its groups, in order.
    var all: [Route] { routes.routes }

    func get(_ path: String, _ handler: @escaping Handler) { add(.get, path, handler) }
    func post(_ path: String, _ handler: @escaping Handler) { add(.post, path, handler) }

    private func add(_ method: HTTPRequest.Method, _ path: String, _ handler: @escaping Handler) {
        routes.routes.append(Route(method: method, path: path, roles: roles, handler: handler))
        // Hummingbird writes path parameters as ":name".
        let hummingbirdPath = path.replacingOccurrences(of: "{id}", with: ":id")
        // The document's query parameters are checked before the handler: what it forbids is a 400.
        let parameters = QueryContract.shared.parameters(method: method, path: path)
        group.on(RouterPath(hummingbirdPath), method: method) { request, context in
            try QueryContract.check(parameters, request)
            return try await handler(request, context)
        }
    }

    /// The routes, shared by a registry and its groups.
    private final class RouteList {
        var routes: [Route] = []
    }
}

/// Every route of the API, as `METHOD path` in OpenAPI form.
public func routeTable() -> [String] {
    let pool = ConnectionPool(conninfo: "", maxConnections: 1)
    return registerRoutes(RouteRegistry(router: Router(context: LedgerRequestContext.self)), ServerServices(pool: pool))
        .all.map { "\($0.method.rawValue) \($0.path)" }
}

/// Builds the router: health, OpenAPI, commands, resources, I.3, events, audit, and the
/// log's tiles under `tilePrefix`.
public func buildRouter(_ services: ServerServices, tilePrefix: String = "/log") -> Router<LedgerRequestContext> {
    let router = Router(context: LedgerRequestContext.self)
    router.addMiddleware {
        SecurityHeadersMiddleware()
        AccessLogMiddleware()
        MetricsMiddleware()
        ErrorMiddleware()
        QueryGuardMiddleware()
        AuthMiddleware(tokens: services.tokens)
    }
    _ = registerRoutes(RouteRegistry(router: router), services)
    TileRoutes(prefix: tilePrefix, store: services.store, checkpoints: services.checkpoints).add(to: router)
    return router
}

/// Every route, by resource: each file `Routes+<Resource>.swift` adds its own.
@discardableResult
func registerRoutes(_ routes: RouteRegistry, _ services: ServerServices) -> RouteRegistry {
    routes.addOperationRoutes(services)
    routes.addCommandRoutes(services)
    routes.addEntityRoutes(services)
    routes.addIndicatorRoutes(services)
    routes.addAuditRoutes(services)
    return routes
}
