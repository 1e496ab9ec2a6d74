import EventStore
import Foundation
import GrantDomain
import HTTPTypes
import Hummingbird
import Ledger
import NIOCore
import PostgresClient
import Projections

/// What the routes need.
public struct ServerServices: Sendable {
    public let pool: ConnectionPool
    public let handler: CommandHandler
    public let store: EventStore
    public let reporter: I3Reporter
    let tokens: TokenCache
    let renderedReports = RenderedReports()

    public init(pool: ConnectionPool) {
        self.pool = pool
        self.handler = CommandHandler(pool: pool)
        self.store = EventStore(pool: pool)
        self.reporter = I3Reporter(pool: pool)
        self.tokens = TokenCache(store: TokenStore(pool: pool))
    }
}

/// The collection resources: URL segment, entity kind, and the query filter that maps to
/// the entity's parent.
let resources: [(path: String, kind: EntityKind, parentFilter: String?)] = [
    ("organisations", .organisation, "region"),
    ("calls", .call, "programme"),
    ("consortia", .consortium, nil),
    ("applications", .application, "callId"),
    ("grants", .grant, "callId"),
    ("sub-grants", .subGrant, "grantId"),
]

typealias Handler = @Sendable (Request, LedgerRequestContext) async throws -> Response

/// A route as OpenAPI names it (`/v1/grants/{id}`) with its handler.
struct Route {
    let method: HTTPRequest.Method
    let path: String
    let handler: Handler
}

/// Registers routes and remembers them, so the route list cannot drift from the router.
final class RouteRegistry {
    let router: Router<LedgerRequestContext>
    private(set) var routes: [Route] = []

    init(router: Router<LedgerRequestContext>) { self.router = router }

    func get(_ path: String, _ handler: @escaping Handler) { add(.get, path, handler) }
    func post(_ path: String, _ handler: @escaping Handler) { add(.post, path, handler) }

    private func add(_ method: HTTPRequest.Method, _ path: String, _ handler: @escaping Handler) {
        routes.append(Route(method: method, path: path, handler: handler))
        // Hummingbird writes path parameters as ":name".
        let hummingbirdPath = path.replacingOccurrences(of: "{id}", with: ":id")
        router.on(RouterPath(hummingbirdPath), method: method) { request, context in try await handler(request, context) }
    }
}

/// Every route of the API, as `METHOD path` in OpenAPI form.
public func routeTable() -> [String] {
    let pool = ConnectionPool(conninfo: "", maxConnections: 1)
    return registerRoutes(RouteRegistry(router: Router(context: LedgerRequestContext.self)), ServerServices(pool: pool))
        .routes.map { "\($0.method.rawValue) \($0.path)" }
}

/// Builds the router: health, OpenAPI, commands, resources, I.3, events, audit.
public func buildRouter(_ services: ServerServices) -> Router<LedgerRequestContext> {
    let router = Router(context: LedgerRequestContext.self)
    router.addMiddleware {
        LogRequestsMiddleware(.info)
        ErrorMiddleware()
        AuthMiddleware(tokens: services.tokens)
    }
    _ = registerRoutes(RouteRegistry(router: router), services)
    return router
}

@discardableResult
func registerRoutes(_ router: RouteRegistry, _ services: ServerServices) -> RouteRegistry {

    router.get("/healthz") { _, _ in jsonResponse(.ok, #"{"status": "up"}"#) }
    router.get("/readyz") { _, _ in
        do {
            let migrator = try Migrator(directory: Migrator.defaultDirectory())
            let ready = try await services.pool.withConnection { try await migrator.isUpToDate(on: $0) }
            guard ready else {
                return APIError(.serviceUnavailable, "unavailable", "migrations are not applied").response
            }
            return jsonResponse(.ok, #"{"status": "ready"}"#)
        } catch {
            return APIError(.serviceUnavailable, "unavailable", "the database is unavailable").response
        }
    }
    router.get("/openapi.json") { _, _ in
        Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
    }

    router.post("/v1/commands") { request, context in
        let identity = try context.require(.manager)
        var request = request
        let body = try await request.collectBody(upTo: ServerLimits.maxBodyBytes)
        var command = try CommandRequest.parse(String(buffer: body))
        if let key = request.headers[HTTPField.Name("Idempotency-Key")!] {
            guard (1...128).contains(key.count) else { throw APIError.invalid("Idempotency-Key must have 1-128 characters") }
            if let inBody = command.commandId, inBody != key {
                throw APIError.invalid("Idempotency-Key \"\(key)\" differs from the body's commandId \"\(inBody)\"")
            }
            command.commandId = key
        }
        let outcome = try await services.handler.handle(command, actor: identity.name, correlationId: context.id)
        let events = outcome.events.map { event in
            "{\"position\": \(event.position), \"type\": \(jsonQuoted(event.type)), \"streamId\": \(jsonQuoted(event.streamID)), "
                + "\"streamVersion\": \(event.streamVersion), \"eventId\": \"\(event.eventID.uuidString.lowercased())\", "
                + "\"recordedAt\": \"\(event.recordedAt.rfc3339)\"}"
        }
        return jsonResponse(
            outcome.replayed ? .ok : .created, "{\"replayed\": \(outcome.replayed), \"events\": [\(events.joined(separator: ", "))]}")
    }

    for resource in resources {
        router.get("/v1/\(resource.path)") { request, context in
            _ = try context.require(.manager, .auditor, .viewer)
            return try await listResources(resource, request: request, services: services)
        }
        router.get("/v1/\(resource.path)/{id}") { _, context in
            _ = try context.require(.manager, .auditor, .viewer)
            let id = try context.parameters.require("id")
            try await services.reporter.runner.catchUp()
            let rows = try await services.pool.withConnection {
                try await $0.query("SELECT doc::text FROM rm_entities.entities WHERE kind = \(resource.kind.rawValue) AND id = \(id)")
            }
            guard let doc = rows.first?.text(0) else { throw APIError.notFound("\(resource.kind.rawValue) \"\(id)\" does not exist") }
            return jsonResponse(.ok, doc)
        }
    }

    router.get("/v1/indicators/i3") { request, context in
        _ = try context.require(.manager, .auditor, .viewer)
        let query = request.uri.queryParameters
        guard let fromText = query.get("from"), let from = BusinessDate(fromText) else {
            throw APIError.invalid("query parameter from must be a date YYYY-MM-DD")
        }
        guard let toText = query.get("to"), let to = BusinessDate(toText), to >= from else {
            throw APIError.invalid("query parameter to must be a date YYYY-MM-DD, not before from")
        }
        var cutOff = CutOff.head
        if let asOf = query.get("asOf") {
            guard let parsed = CutOff.parse(asOf) else {
                throw APIError.invalid("asOf \(asOf) is neither a log position nor an RFC 3339 timestamp")
            }
            cutOff = parsed
        }
        let report = try await services.reporter.reportFromReadModel(
            I3Query(from: from, to: to, programme: query.get("programme"), callId: query.get("callId")), cutOff: cutOff)
        let csv = request.headers[.accept]?.contains("text/csv") == true
        let body = services.renderedReports.body(for: report, csv: csv)
        return Response(
            status: .ok, headers: [.contentType: csv ? "text/csv; charset=utf-8" : "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: body))
    }

    router.get("/v1/events") { request, context in
        _ = try context.require(.auditor)
        let query = request.uri.queryParameters
        let after = try query.get("after").map { text -> Int64 in
            guard let value = Int64(text), value >= 0 else { throw APIError.invalid("after must be a position ≥ 0") }
            return value
        } ?? 0
        let limit = try pageSize(request, default: 100)
        let events = try await services.store.readAll(after: after, limit: limit)
        let items = events.map { event in
            "{\"position\": \(event.position), \"streamId\": \(jsonQuoted(event.streamID)), \"streamVersion\": \(event.streamVersion), "
                + "\"eventId\": \"\(event.eventID.uuidString.lowercased())\", \"type\": \(jsonQuoted(event.type)), "
                + "\"data\": \(event.data), \"metadata\": \(event.metadata), \"recordedAt\": \"\(event.recordedAt.rfc3339)\"}"
        }
        let next = events.last.map { String($0.position) } ?? String(after)
        return jsonResponse(.ok, "{\"events\": [\(items.joined(separator: ", "))], \"next\": \(next)}")
    }

    router.get("/v1/audit/verify") { _, context in
        _ = try context.require(.auditor)
        let report = try await services.store.verify()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return jsonResponse(report.ok ? .ok : .conflict, String(decoding: try encoder.encode(report), as: UTF8.self))
    }
    return router
}

/// The `limit` query parameter: 1 to `ServerLimits.maxPageSize`, `default` when absent.
func pageSize(_ request: Request, default value: Int) throws -> Int {
    guard let text = request.uri.queryParameters.get("limit") else { return value }
    guard let limit = Int(text), (1...ServerLimits.maxPageSize).contains(limit) else {
        throw APIError.invalid("limit must be 1-\(ServerLimits.maxPageSize)")
    }
    return limit
}

/// One page of a collection, ordered by id, with an opaque cursor for the next page.
func listResources(
    _ resource: (path: String, kind: EntityKind, parentFilter: String?), request: Request, services: ServerServices
) async throws -> Response {
    let query = request.uri.queryParameters
    let limit = try pageSize(request, default: 50)
    var after: String?
    if let cursor = query.get("cursor") {
        guard let data = Data(base64Encoded: cursor), let id = String(data: data, encoding: .utf8) else {
            throw APIError.invalid("cursor \(cursor) is not a cursor returned by this API")
        }
        after = id
    }
    let parent = resource.parentFilter.flatMap { query.get($0) }
    let status = query.get("status")
    try await services.reporter.runner.catchUp()
    let rows = try await services.pool.withConnection { connection in
        try await connection.query(
            """
            SELECT id, doc::text FROM rm_entities.entities
            WHERE kind = \(resource.kind.rawValue)
              AND (\(after)::text IS NULL OR id > \(after))
              AND (\(parent)::text IS NULL OR parent = \(parent))
              AND (\(status)::text IS NULL OR status = \(status))
            ORDER BY id LIMIT \(limit + 1)
            """)
    }
    let page = rows.prefix(limit)
    let items = page.compactMap { $0.text(1) }
    var next = "null"
    if rows.count > limit, let last = page.last?.text(0) {
        next = "\"" + Data(last.utf8).base64EncodedString() + "\""
    }
    return jsonResponse(.ok, "{\"items\": [\(items.joined(separator: ", "))], \"nextCursor\": \(next)}")
}

/// Rendered report bodies by (query, cut-off, format): a report never changes for a given
/// cut-off, so the bytes can be reused as they are.
final class RenderedReports: @unchecked Sendable {
    // Safety: `bodies` is only touched under `lock`.
    private struct Key: Hashable {
        let query: I3Query
        let position: Int64
        let csv: Bool
    }
    private let lock = NSLock()
    private var bodies: [Key: ByteBuffer] = [:]

    func body(for report: I3Report, csv: Bool) -> ByteBuffer {
        let key = Key(query: report.query, position: report.asOf.position, csv: csv)
        if let hit = lock.withLock({ bodies[key] }) { return hit }
        let body = ByteBuffer(string: csv ? report.csv : report.json)
        lock.withLock {
            if bodies.count >= 1_000 { bodies.removeAll() }
            bodies[key] = body
        }
        return body
    }
}
