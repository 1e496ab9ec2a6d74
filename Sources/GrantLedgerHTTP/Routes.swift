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
    public init(pool: ConnectionPool, logSigner: NoteSigner? = nil, replicas: ReadReplicas? = nil) {
        self.pool = pool
        self.replicas =
            replicas
            ?? ReadReplicas(conninfos: [], maxConnections: 1, acquireTimeout: 1, logger: Logger(label: "replicas"))
        self.checkpoints = CheckpointPublisher(signer: logSigner, pool: pool)
        self.handler = CommandHandler(pool: pool)
        self.store = EventStore(pool: pool)
        self.reporter = I3Reporter(pool: pool)
        self.tokens = TokenCache(store: TokenStore(pool: pool))
        self.readiness = Readiness(pool: pool)
        self.entities = EntityQueries(pool: pool)
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
        router.on(RouterPath(hummingbirdPath), method: method) { request, context in try await handler(request, context)
        }
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
        SecurityHeadersMiddleware()
        AccessLogMiddleware()
        MetricsMiddleware()
        ErrorMiddleware()
        QueryGuardMiddleware()
        AuthMiddleware(tokens: services.tokens)
    }
    _ = registerRoutes(RouteRegistry(router: router), services)
    return router
}

@discardableResult
func registerRoutes(_ router: RouteRegistry, _ services: ServerServices) -> RouteRegistry {

    router.get("/healthz") { _, _ in jsonResponse(.ok, #"{"status": "up"}"#) }
    router.get("/readyz") { _, _ in
        switch await services.readiness.check() {
        case .ready:
            // Degraded (quarantined events, a read model that differs from the log) still
            // serves: the answer says so, with the reasons, and stays 200.
            return jsonResponse(.ok, services.integrity.degradation ?? #"{"status": "ready"}"#)
        case .notMigrated: return APIError(.serviceUnavailable, "unavailable", "migrations are not applied").rendered
        case .noMigrationFiles:
            return APIError(
                .serviceUnavailable, "unavailable",
                "the migration files were not found at start-up (./sql, or set GRANTLEDGER_MIGRATIONS)"
            ).rendered
        case .unavailable: return APIError(.serviceUnavailable, "unavailable", "the database is unavailable").rendered
        }
    }
    router.get("/metrics") { _, context in
        _ = try context.require(.auditor)
        return metricsResponse(services)
    }
    router.get("/openapi.json") { _, _ in
        Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
    }

    router.post("/v1/commands") { request, context in
        // Counted by outcome and docs/domain.md §5 code, refusals of any kind included.
        do {
            let (response, replayed) = try await submitCommand(request, context, services)
            ServerMetrics.command(replayed ? "replayed" : "accepted", code: "ok")
            return response
        } catch let error as DomainError {
            ServerMetrics.command("rejected", code: error.code.rawValue)
            throw error
        } catch let error as APIError {
            ServerMetrics.command("rejected", code: error.code)
            throw error
        }
    }

    for resource in resources {
        router.get("/v1/\(resource.path)") { request, context in
            _ = try context.require(.manager, .auditor, .viewer)
            return try await listResources(resource, request: request, services: services)
        }
        router.get("/v1/\(resource.path)/{id}") { request, context in
            _ = try context.require(.manager, .auditor, .viewer)
            let id = try context.parameters.require("id")
            let (doc, position) = try await readEntities(try ReadRequirement(request), services) {
                try await $0.document(resource.kind, id: id)
            }
            guard let doc else {
                throw APIError.notFound("\(resource.kind.rawValue) \"\(id)\" does not exist")
            }
            return withPosition(jsonResponse(.ok, doc), position)
        }
        router.get("/v1/\(resource.path)/{id}/history") { request, context in
            _ = try context.require(.auditor)
            let id = try context.parameters.require("id")
            let related: Bool
            switch request.uri.queryParameters.get("related") {
            case nil, "false": related = false
            case "true": related = true
            default: throw APIError.invalid("related must be true or false")
            }
            let cutOff = try cutOffParameter(request)
            let format = try textFormat(request, allowed: [.json, .csv, .table])
            let after = try positionParameter(request, "after") ?? 0
            let limit = try pageSize(request, default: ServerLimits.maxPageSize)
            let history = try await services.entities.history(
                resource.kind, id, related: related, cutOff: cutOff, after: after, limit: limit)
            switch format {
            case .json: return jsonResponse(.ok, ResponseJSON.text(history))
            case .csv: return textResponse(history.csv, contentType: "text/csv; charset=utf-8")
            case .table: return textResponse(history.table, contentType: "text/plain; charset=utf-8")
            }
        }
    }

    router.get("/v1/indicators/i3") { request, context in
        _ = try context.require(.manager, .auditor, .viewer)
        let (query, cutOff) = try i3Inputs(request)
        let accept = request.headers[.accept] ?? ""
        let bom = try bomParameter(request)
        let language = try languageParameter(request)
        let report = try await i3Report(query, cutOff: cutOff, try ReadRequirement(request), services)
        if accept.contains("image/svg+xml") {
            return textResponse(
                I3Picture(report: report.report, language: language).svgDocument,
                contentType: "image/svg+xml; charset=utf-8", language: language)
        }
        if accept.contains("text/html") {
            let page = try await I3PicturePage.make(report.report, language: language, reporter: services.reporter)
            return textResponse(page.html, contentType: "text/html; charset=utf-8", language: language)
        }
        if accept.contains("text/csv") {
            return csvResponse(report.csv, byteOrderMark: bom)
        }
        return textResponse(report.json, contentType: "application/json; charset=utf-8")
    }

    router.get("/v1/indicators/i3/organisations") { request, context in
        _ = try context.require(.manager, .auditor, .viewer)
        let (query, cutOff) = try i3Inputs(request)
        let parameters = request.uri.queryParameters
        let filter = I3RowFilter(
            regionCode: try parameters.get("regionCode").map { code in
                guard Region.isValid(code) else { throw APIError.invalid("regionCode must be an ISO 3166-2:KZ code") }
                return code
            },
            leadershipGender: try enumeration(parameters, "leadershipGender"),
            settlement: try enumeration(parameters, "settlement"),
            registrationStatus: try enumeration(parameters, "registrationStatus"),
            channel: try enumeration(parameters, "channel"))
        let format = try textFormat(request, allowed: ReportFormat.allCases)
        let bom = try bomParameter(request)
        // The reporter (a replica's, or the primary's) and the cut, resolved before the answer
        // starts, so that a bad cut-off is a 400, not a broken stream.
        let chosen: (reporter: I3Reporter, cut: Int64) = try await onReporter(
            try ReadRequirement(request), cutOff: cutOff, services
        ) { reporter in
            let cut: Int64 = try await reporter.readModelCut(cutOff)
            return (reporter, cut)
        }
        let (reporter, cut) = chosen
        let list = I3OrganisationList(query: query, filter: filter, format: format, byteOrderMark: bom)
        // From memory when the background service keeps the read model there; else streamed
        // from the read model.
        let fromMemory = try await reporter.organisationsFromMemory(query, filter: filter, cut: cut)
        return Response(
            status: .ok, headers: [.contentType: list.contentType],
            body: ResponseBody { writer in
                var buffer = ByteBuffer()
                var count = 0
                func add(_ row: I3OrganisationRow) async throws {
                    buffer.writeString(list.row(row, index: count))
                    count += 1
                    if buffer.readableBytes >= 64 << 10 {
                        try await writer.write(buffer)
                        buffer.clear()
                    }
                }
                if let (asOf, rows) = fromMemory {
                    buffer.writeString(list.header(asOf: asOf))
                    for text in await list.render(rows) {
                        buffer.writeString(text)
                        try await writer.write(buffer)
                        buffer.clear()
                    }
                    count = rows.count
                } else {
                    try await reporter.organisations(
                        query, filter: filter, cutOff: .position(cut),
                        header: { buffer.writeString(list.header(asOf: $0)) }, row: add)
                }
                buffer.writeString(list.footer(count: count))
                try await writer.write(buffer)
                try await writer.finish(nil)
            })
    }

    router.get("/v1/indicators/i3/sign-offs") { request, context in
        let viewer = try context.require(.manager, .auditor, .viewer).role == .viewer
        let cutOff = try cutOffParameter(request)
        let format = try textFormat(request, allowed: [.json, .csv, .table])
        let bom = try bomParameter(request)
        let records: [SignOffRecord] = try await onReporter(try ReadRequirement(request), cutOff: cutOff, services) {
            try await $0.signOffs(cutOff: cutOff).signOffs
        }.map { viewer ? $0.withoutActor : $0 }
        switch format {
        case .json: return jsonResponse(.ok, ResponseJSON.text(records))
        case .csv: return csvResponse(SignOffList.csv(records), byteOrderMark: bom)
        case .table: return textResponse(SignOffList.table(records), contentType: "text/plain; charset=utf-8")
        }
    }

    router.get("/v1/indicators/i3/sign-offs/{reportId}") { request, context in
        let viewer = try context.require(.manager, .auditor, .viewer).role == .viewer
        let reportId = try context.parameters.require("reportId")
        let found: SignOffRecord? = try await onReporter(try ReadRequirement(request), cutOff: .head, services) {
            try await $0.signOff(reportId)
        }
        guard let record = found else {
            throw APIError.notFound("sign-off \"\(reportId)\" does not exist")
        }
        return jsonResponse(.ok, ResponseJSON.text(viewer ? record.withoutActor : record))
    }

    router.get("/v1/indicators/i3/sign-offs/{reportId}/restatement") { request, context in
        let viewer = try context.require(.manager, .auditor, .viewer).role == .viewer
        let reportId = try context.parameters.require("reportId")
        let cutOff = try cutOffParameter(request)
        let format = try textFormat(request, allowed: [.json, .csv, .table])
        let bom = try bomParameter(request)
        var restatement: Restatement = try await onReporter(try ReadRequirement(request), cutOff: cutOff, services) {
            try await $0.restatement(reportId, cutOff: cutOff)
        }
        if viewer { restatement.signedOff.actor = nil }
        switch format {
        case .table: return textResponse(restatement.table, contentType: "text/plain; charset=utf-8")
        case .csv: return csvResponse(restatement.csv, byteOrderMark: bom)
        case .json: return jsonResponse(.ok, ResponseJSON.text(restatement))
        }
    }

    router.get("/v1/indicators/i3/progress") { request, context in
        let viewer = try context.require(.manager, .auditor, .viewer).role == .viewer
        let cutOff = try cutOffParameter(request)
        let format = try textFormat(request, allowed: [.json, .csv, .table])
        let programme = request.uri.queryParameters.get("programme")
        let bom = try bomParameter(request)
        var progress: I3Progress = try await onReporter(try ReadRequirement(request), cutOff: cutOff, services) {
            try await $0.progress(programme: programme, cutOff: cutOff)
        }
        // Viewers see no actor names (docs/domain.md §15).
        if viewer { for index in progress.targets.indices { progress.targets[index].recorded.actor = nil } }
        switch format {
        case .json: return jsonResponse(.ok, ResponseJSON.text(progress))
        case .csv: return csvResponse(progress.csv, byteOrderMark: bom)
        case .table: return textResponse(progress.table, contentType: "text/plain; charset=utf-8")
        }
    }

    router.get("/v1/events") { request, context in
        _ = try context.require(.auditor)
        let after = try positionParameter(request, "after") ?? 0
        let limit = try pageSize(request, default: 100)
        let requirement = try ReadRequirement(request)
        try await requirement.refuseBeyondLog(services.store)
        func page(_ events: [RecordedEvent]) -> Response {
            jsonResponse(.ok, ResponseJSON.text(EventPage(events: events, after: after)))
        }
        // From a standby that has reached minPosition; from the primary when there is none
        // (unless told not to fall back) or when the standby fails.
        if !services.replicas.isEmpty {
            if let replica = await services.replicas.replica(\.events, reaching: requirement.minimum) {
                if let events = try? await replica.store.readAll(after: after, limit: limit) { return page(events) }
            } else if !requirement.fallback {
                throw requirement.unavailable()
            }
        }
        return page(try await services.store.readAll(after: after, limit: limit))
    }

    router.get("/v1/audit/verify") { _, context in
        _ = try context.require(.auditor)
        // A verification reads the whole log: one at a time, the others are told to retry.
        guard let report = try await services.verification.run({ try await services.store.verify() }) else {
            var busy = APIError(.tooManyRequests, "busy", "an audit verification is already running; retry shortly")
            busy.headers[.retryAfter] = "5"
            throw busy
        }
        return jsonResponse(report.ok ? .ok : .conflict, ResponseJSON.text(report))
    }

    router.get("/v1/audit/quarantine") { _, context in
        _ = try context.require(.auditor)
        let quarantined = try await services.pool.withConnection { connection in
            try await connection.query("SELECT position, type, reason FROM rm_entities.quarantine ORDER BY position")
                .map {
                    QuarantinedEvent(
                        position: try $0.decode(Int64.self, 0), type: try $0.decode(String.self, 1),
                        reason: try $0.decode(String.self, 2))
                }
        }
        return jsonResponse(.ok, #"{"quarantined": \#(ResponseJSON.text(quarantined))}"#)
    }

    router.get("/v1/audit/checkpoint") { _, _ in
        // Public: publishing the log's heads is the point.
        guard let note = try await services.checkpoints.checkpoint() else {
            throw APIError.notFound(
                "this server signs no checkpoints: start it with --log-key (grantledger audit keygen)")
        }
        return textResponse(note, contentType: "text/plain; charset=utf-8")
    }

    router.get("/v1/audit/proof/inclusion") { request, context in
        _ = try context.require(.auditor)
        guard let position = try sizeParameter(request, "position", required: true) else {
            throw APIError.invalid("position is required")
        }
        let treeSize = try sizeParameter(request, "treeSize", required: false)
        return jsonResponse(
            .ok,
            ResponseJSON.text(
                try await proofErrors {
                    try await fromReplicaFirst(services) {
                        try await $0.inclusionProof(position: position, treeSize: treeSize)
                    }
                }
            ))
    }

    router.get("/v1/audit/proof/consistency") { request, context in
        _ = try context.require(.auditor)
        guard let from = try sizeParameter(request, "from", required: true) else {
            throw APIError.invalid("from is required")
        }
        let to = try sizeParameter(request, "to", required: false)
        return jsonResponse(
            .ok,
            ResponseJSON.text(
                try await proofErrors {
                    try await fromReplicaFirst(services) { try await $0.consistencyProof(from: from, to: to) }
                }))
    }
    return router
}

/// A proof from a healthy replica when there is one; from the primary when there is none,
/// when the replica has not sealed that far yet, or when it fails.
func fromReplicaFirst<T>(_ services: ServerServices, _ prove: (EventStore) async throws -> T) async throws -> T {
    if let replica = services.replicas.ready(\.events, reaching: 0), let proof = try? await prove(replica.store) {
        return proof
    }
    return try await prove(services.store)
}

/// A positive integer query parameter (a position or a tree size): 1 to 2^63 − 1.
func sizeParameter(_ request: Request, _ name: String, required: Bool) throws -> Int64? {
    guard let value = try positionParameter(request, name) else {
        if required { throw APIError.invalid("\(name) is required") }
        return nil
    }
    guard value >= 1 else { throw APIError.invalid("\(name) must be an integer from 1 to 9223372036854775807") }
    return value
}

/// Maps a proof request the store cannot answer to 404 (no such event) or 400.
func proofErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as ProofRequestError {
        throw error.notFound ? APIError.notFound(error.message) : APIError.invalid(error.message)
    }
}

/// A log position given as a query parameter (`after`): nil when absent.
func positionParameter(_ request: Request, _ name: String) throws -> Int64? {
    try request.uri.queryParameters.get(name).map { text -> Int64 in
        guard case .position(let value)? = CutOff.parse(text) else {
            throw APIError.invalid("\(name) must be a position ≥ 0")
        }
        return value
    }
}

/// The `limit` query parameter: 1 to `ServerLimits.maxPageSize`, `default` when absent.
func pageSize(_ request: Request, default value: Int) throws -> Int {
    guard let text = request.uri.queryParameters.get("limit") else { return value }
    guard let limit = parseLimit(text) else {
        throw APIError.invalid("limit must be 1-\(ServerLimits.maxPageSize)")
    }
    return limit
}

/// A page size of 1 to `ServerLimits.maxPageSize` in ASCII digits; nil otherwise.
func parseLimit(_ text: String) -> Int? {
    let bytes = Array(text.utf8)
    guard (1...6).contains(bytes.count), bytes.allSatisfy({ (48...57).contains($0) }), let limit = Int(text),
        (1...ServerLimits.maxPageSize).contains(limit)
    else { return nil }
    return limit
}

/// The id a list continues after: the cursor's base64 payload when it is one this API
/// issued, else the cursor text itself, so that no cursor is refused (see the OpenAPI
/// document).
func cursorAfter(_ cursor: String) -> String {
    if let data = Data(base64Encoded: cursor), let id = String(validating: data, as: UTF8.self),
        !id.unicodeScalars.contains("\u{0}")
    {
        return id
    }
    return cursor
}

/// `POST /v1/commands`: the answer, and whether it replays an earlier one.
func submitCommand(_ request: Request, _ context: LedgerRequestContext, _ services: ServerServices) async throws
    -> (Response, Bool)
{
    let identity = try context.require(.manager)
    var request = request
    let body = try await request.collectBody(upTo: ServerLimits.maxBodyBytes)
    guard let text = String(validating: body.readableBytesView, as: UTF8.self) else {
        throw APIError.invalid("the request body is not valid UTF-8")
    }
    var command = try CommandRequest.parse(text)
    if let key = request.headers[.idempotencyKey] {
        guard CommandID.isValid(key) else {
            throw APIError.invalid("Idempotency-Key must have 1-128 characters and no U+0000")
        }
        if let inBody = command.commandId, inBody != key {
            throw APIError.invalid("Idempotency-Key \"\(key)\" differs from the body's commandId \"\(inBody)\"")
        }
        command.commandId = key
    }
    // Without a key a client that loses the answer cannot re-send safely (docs/domain.md §1).
    guard command.commandId != nil else {
        throw APIError.invalid("\(command.command.name): send a commandId in the body or an Idempotency-Key header")
    }
    let start = ContinuousClock.now
    let outcome = try await services.handler.handle(command, actor: identity.name, correlationId: context.id)
    if !outcome.replayed { ServerMetrics.append(ContinuousClock.now - start) }
    let response = jsonResponse(
        outcome.replayed ? .ok : .created,
        ResponseJSON.text(try CommandResult(outcome, signer: services.checkpoints.signer)))
    return (response, outcome.replayed)
}

/// One page of a collection, ordered by id, with an opaque cursor for the next page.
func listResources(
    _ resource: (path: String, kind: EntityKind, parentFilter: String?), request: Request, services: ServerServices
) async throws -> Response {
    let query = request.uri.queryParameters
    let limit = try pageSize(request, default: 50)
    let after = query.get("cursor").map(cursorAfter)
    let parent = resource.parentFilter.flatMap { query.get($0) }
    let status = query.get("status")
    let bom = try bomParameter(request)
    let (rows, position) = try await readEntities(try ReadRequirement(request), services) {
        try await $0.list(resource.kind, after: after, parent: parent, status: status, limit: limit + 1)
    }
    let page = rows.prefix(limit)
    var next: String?
    if rows.count > limit, let last = page.last?.id {
        next = Data(last.utf8).base64EncodedString()
    }
    if request.headers[.accept]?.contains("text/csv") == true {
        // A page as CSV; the cursor of the next page, if any, in a header.
        var response = textResponse(
            EntityQueries.csv(resource.kind, rows: Array(page), byteOrderMark: bom),
            contentType: "text/csv; charset=utf-8")
        if let next, let name = HTTPField.Name("Grantledger-Next-Cursor") { response.headers[name] = next }
        return withPosition(response, position)
    }
    let items = page.map { JSONValue.parse($0.document) ?? .null }
    return withPosition(jsonResponse(.ok, ResponseJSON.text(EntityPage(items: items, nextCursor: next))), position)
}

/// The `Grantledger-Position` header: the point of the log a list or show stands on (the
/// read model's checkpoint where it was read).
func withPosition(_ response: Response, _ position: Int64) -> Response {
    var response = response
    if let name = HTTPField.Name("Grantledger-Position") { response.headers[name] = String(position) }
    return response
}

/// Runs `read` on the entity read model of a replica that has reached the request's
/// `minPosition`, else (allowed to fall back) on the primary, caught up first. Returns what
/// it read and the read model's position there.
func readEntities<T: Sendable>(
    _ requirement: ReadRequirement, _ services: ServerServices, _ read: (EntityQueries) async throws -> T
) async throws -> (T, Int64) {
    try await requirement.refuseBeyondLog(services.store)
    if !services.replicas.isEmpty {
        if let replica = await services.replicas.replica(\.entities, reaching: requirement.minimum) {
            let position = replica.reached.withLockedValue { $0.entities }
            if let value = try? await read(replica.entities) { return (value, position) }
        }
        guard requirement.fallback else { throw requirement.unavailable() }
    }
    let runner = services.reporter.runner
    if requirement.minimum > 0 {
        // The client's own write: sealed and projected first, for a bounded time.
        _ = try await runner.sealAndCatchUp(reaching: requirement.minimum, patience: ReadReplicas.patience)
    } else {
        try await runner.catchUp()
    }
    let position = try await runner.checkpoint(of: "entities")
    return (try await read(services.entities), position)
}

/// The I.3 figure from a replica that has reached what the request needs (its `minPosition`
/// and a position cut-off), else (allowed to fall back) from the primary.
func i3Report(_ query: I3Query, cutOff: CutOff, _ requirement: ReadRequirement, _ services: ServerServices)
    async throws -> RenderedI3Report
{
    try await onReporter(requirement, cutOff: cutOff, services) {
        try await $0.renderedReportFromReadModel(query, cutOff: cutOff)
    }
}

/// Runs a report on the reporter of a replica that has reached what the request needs (its
/// `minPosition` and a position cut-off), else (allowed to fall back) on the primary's,
/// caught up to `minPosition` first for a bounded time. A replica that fails, or cannot
/// answer read-only (a cut-off it has not projected), hands the report to the primary.
func onReporter<T: Sendable>(
    _ requirement: ReadRequirement, cutOff: CutOff, _ services: ServerServices,
    _ report: (I3Reporter) async throws -> T
) async throws -> T {
    try await requirement.refuseBeyondLog(services.store)
    var needed = requirement.minimum
    if case .position(let position) = cutOff { needed = max(needed, position) }
    if !services.replicas.isEmpty {
        if let replica = await services.replicas.replica(\.i3, reaching: needed) {
            do {
                return try await report(replica.reporter)
            } catch let error as DomainError {
                throw error  // the request's own fault (a cut-off beyond the head, an unknown id)
            } catch {
                // The primary answers.
            }
        }
        guard requirement.fallback else { throw requirement.unavailable() }
    }
    let reporter = services.reporter
    if requirement.minimum > (reporter.knownHead.value ?? 0) {
        // The client's own write is not projected yet: catch up to it, for a bounded time.
        let head = try await reporter.runner.sealAndCatchUp(
            reaching: requirement.minimum, patience: ReadReplicas.patience)
        reporter.knownHead.update(head.position)
    }
    return try await report(reporter)
}

/// Runs one piece of work at a time; a caller arriving meanwhile is turned away.
final class SingleFlight: Sendable {
    private let running = NIOLockedValueBox(false)

    /// The work's result, or nil when another run is in progress.
    func run<T>(_ work: () async throws -> T) async throws -> T? {
        let claimed = running.withLockedValue { running -> Bool in
            if running { return false }
            running = true
            return true
        }
        guard claimed else { return nil }
        defer { running.withLockedValue { $0 = false } }
        return try await work()
    }
}

/// `/readyz`: the migration files are read once, at start-up; a check is one query, and a
/// "ready" answer is reused for a second so that polling costs the database next to nothing.
/// Failures are not reused: recovery shows at once.
final class Readiness: Sendable {
    enum State { case ready, notMigrated, noMigrationFiles, unavailable }

    private let lastReady = NIOLockedValueBox<ContinuousClock.Instant?>(nil)
    private let pool: ConnectionPool
    private let versions: [Int]?

    init(pool: ConnectionPool) {
        self.pool = pool
        let versions = (try? Migrator(directory: Migrator.defaultDirectory()))?.migrations.map(\.version)
        self.versions = versions?.isEmpty == false ? versions : nil
    }

    func check() async -> State {
        let now = ContinuousClock.now
        if let ready = lastReady.withLockedValue({ $0 }), now - ready < .seconds(1) { return .ready }
        let state: State
        if let versions {
            do {
                let missing = try await pool.withConnection { connection in
                    try await connection.query(
                        """
                        SELECT count(*) FROM unnest(\("{" + versions.map(String.init).joined(separator: ",") + "}")::int[]) v
                        WHERE v NOT IN (SELECT version FROM schema_migrations)
                        """)[0].decode(Int.self, 0)
                }
                state = missing == 0 ? .ready : .notMigrated
            } catch {
                state = .unavailable
            }
        } else {
            state = .noMigrationFiles
        }
        lastReady.withLockedValue { $0 = state == .ready ? now : nil }
        return state
    }
}

extension HTTPField.Name {
    /// `Idempotency-Key`.
    static let idempotencyKey = HTTPField.Name("Idempotency-Key") ?? .contentType
}

/// The period, programme, call and cut-off of an I.3 request.
func i3Inputs(_ request: Request) throws -> (I3Query, CutOff) {
    let query = request.uri.queryParameters
    guard let fromText = query.get("from"), let from = BusinessDate(fromText) else {
        throw APIError.invalid("query parameter from must be a date YYYY-MM-DD")
    }
    guard let toText = query.get("to"), let to = BusinessDate(toText), to >= from else {
        throw APIError.invalid("query parameter to must be a date YYYY-MM-DD, not before from")
    }
    // `call` is the CLI's `--call` in camelCase; `callId` the name the figure's endpoint had first.
    let callId = query.get("callId")
    let call = query.get("call")
    if let callId, let call, callId != call {
        throw APIError.invalid("query parameters callId and call name different calls; give one")
    }
    return (
        I3Query(from: from, to: to, programme: query.get("programme"), callId: callId ?? call),
        try cutOffParameter(request)
    )
}

/// The `asOf` query parameter: the head when absent.
func cutOffParameter(_ request: Request) throws -> CutOff {
    guard let asOf = request.uri.queryParameters.get("asOf") else { return .head }
    guard let parsed = CutOff.parse(asOf) else {
        throw APIError.invalid("asOf \(asOf) is neither a log position nor an RFC 3339 timestamp")
    }
    return parsed
}

/// The `format` query parameter (or `Accept: text/csv`), one of `allowed`; JSON by default.
func textFormat(_ request: Request, allowed: [ReportFormat]) throws -> ReportFormat {
    guard let text = request.uri.queryParameters.get("format") else {
        let csv = request.headers[.accept]?.contains("text/csv") == true && allowed.contains(.csv)
        return csv ? .csv : .json
    }
    guard let format = ReportFormat(rawValue: text), allowed.contains(format) else {
        throw APIError.invalid("format must be one of " + allowed.map(\.rawValue).joined(separator: ", "))
    }
    return format
}

/// `GET /metrics`: the Prometheus text exposition, the pool's gauges and the I.3 cache's
/// counts read just now.
func metricsResponse(_ services: ServerServices) -> Response {
    ServerMetrics.pool(services.pool.statistics)
    ServerMetrics.reportCache(services.reportCacheCounts)
    return textResponse(ServerMetrics.exposition(), contentType: "text/plain; version=0.0.4; charset=utf-8")
}

/// A CSV answer, with a byte-order mark first when asked for (`?bom=true`).
func csvResponse(_ csv: String, byteOrderMark: Bool) -> Response {
    textResponse(byteOrderMark ? "\u{FEFF}" + csv : csv, contentType: "text/csv; charset=utf-8")
}

/// A text answer; with its `Content-Language` when it is written in one.
func textResponse(_ text: String, contentType: String, language: ReportLanguage? = nil) -> Response {
    var headers: HTTPFields = [.contentType: contentType]
    if let language { headers[.contentLanguage] = language.rawValue }
    return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
}

/// The `bom` query parameter: true puts a UTF-8 byte-order mark before a CSV answer.
func bomParameter(_ request: Request) throws -> Bool {
    switch request.uri.queryParameters.get("bom") {
    case nil, "false": return false
    case "true": return true
    default: throw APIError.invalid("bom must be true or false")
    }
}

/// The language of a picture: `?lang=` (en, kk or ru), else the first supported language of
/// `Accept-Language`, else English.
func languageParameter(_ request: Request) throws -> ReportLanguage {
    if let text = request.uri.queryParameters.get("lang") {
        guard let language = ReportLanguage(rawValue: text) else {
            throw APIError.invalid("lang must be one of en, kk, ru; got \"\(text)\"")
        }
        return language
    }
    return request.headers[.acceptLanguage].flatMap(ReportLanguage.init(acceptLanguage:)) ?? .en
}

/// An optional enumeration query parameter: nil when absent, `invalid` naming the values
/// when it is none of them.
func enumeration<E: RawRepresentable & CaseIterable>(_ parameters: Parameters, _ name: String) throws -> E?
where E.RawValue == String {
    guard let text = parameters.get(name) else { return nil }
    guard let value = E(rawValue: text) else {
        throw APIError.invalid(
            "\(name) must be one of " + E.allCases.map(\.rawValue).joined(separator: ", ") + "; got \"\(text)\"")
    }
    return value
}
