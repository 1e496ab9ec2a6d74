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

/// The collection resources, from the entity table: URL segment, entity kind, and the
/// query filter that maps to the entity's parent.
let resources = EntityTable.specs.map { (path: $0.path, kind: $0.kind, parentFilter: $0.parentFilter) }

extension RouteRegistry {
    /// The entity collections (`/v1/grants`, `/v1/grants/{id}`): every role reads them; an
    /// entity's history is for auditors. A grantee token reads its own grants, sub-grants
    /// and activities (`GranteeScope`), their histories too, and no other kind.
    func addEntityRoutes(_ services: ServerServices) {
        let readers = group(.manager, .auditor, .viewer, .grantee)
        let auditors = group(.auditor, .grantee)
        for resource in resources {
            readers.get("/v1/\(resource.path)") { request, context in
                let scope = try granteeScope(context, services, kind: resource.kind)
                let redaction = try await ViewerRedaction.make(context, services)
                return try await listResources(
                    resource, request: request, services: services, scope: scope, redaction: redaction)
            }
            readers.get("/v1/\(resource.path)/{id}") { request, context in
                let id = try context.parameters.require("id")
                if let scope = try granteeScope(context, services, kind: resource.kind),
                    try await !scope.owns(resource.kind, id)
                {
                    throw GranteeScope.forbidden
                }
                let (doc, position) = try await readEntities(try ReadRequirement(request), services) {
                    try await $0.document(resource.kind, id: id)
                }
                guard let doc else {
                    throw APIError.notFound("\(resource.kind.rawValue) \"\(id)\" does not exist")
                }
                // Viewers see confidential organisations as pseudonyms (docs/domain.md §15).
                if let redaction = try await ViewerRedaction.make(context, services) {
                    let redacted = redaction.json(JSONValue.parse(doc) ?? .null)
                    return withPosition(jsonResponse(.ok, ResponseJSON.text(redacted)), position)
                }
                return withPosition(jsonResponse(.ok, doc), position)
            }
            auditors.get("/v1/\(resource.path)/{id}/history") { request, context in
                let id = try context.parameters.require("id")
                if let scope = try granteeScope(context, services, kind: resource.kind),
                    try await !scope.owns(resource.kind, id)
                {
                    throw GranteeScope.forbidden
                }
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

    }
}

/// The scope of a grantee token reading entities of `kind` (nil for every other role).
/// - Throws: 403 for a kind a grantee never reads.
func granteeScope(_ context: LedgerRequestContext, _ services: ServerServices, kind: EntityKind? = nil) throws
    -> GranteeScope?
{
    guard let identity = context.identity, identity.role == .grantee else { return nil }
    guard let organisationId = identity.organisationId else { throw GranteeScope.forbidden }
    if let kind, ![.grant, .subGrant, .activity].contains(kind) { throw GranteeScope.forbidden }
    return GranteeScope(organisationId: organisationId, store: services.store)
}

/// One page of a collection, ordered by id, with an opaque cursor for the next page. For a
/// grantee (`scope`), the page holds only its own entities, so it may be shorter than the
/// limit while a next cursor still follows.
func listResources(
    _ resource: (path: String, kind: EntityKind, parentFilter: String?), request: Request, services: ServerServices,
    scope: GranteeScope? = nil, redaction: ViewerRedaction? = nil
) async throws -> Response {
    let query = request.uri.queryParameters
    let limit = try pageSize(request, default: 50)
    // A viewer's organisation cursors are sealed: a plain one would show the last identifier.
    let sealedCursors = redaction != nil && resource.kind == .organisation
    let after = try query.get("cursor").map { cursor in
        guard sealedCursors else { return cursorAfter(cursor) }
        guard let id = services.pseudonyms.opened(cursor) else {
            // A well-formed cursor that names no page of this list: nothing to find, not bad input.
            throw APIError.notFound("cursor is not one this list gave")
        }
        return id
    }
    let parent = resource.parentFilter.flatMap { query.get($0) }
    let status = query.get("status")
    let bom = try bomParameter(request)
    let (rows, position) = try await readEntities(try ReadRequirement(request), services) {
        try await $0.list(resource.kind, after: after, parent: parent, status: status, limit: limit + 1)
    }
    var page = rows.prefix(limit)
    var next: String?
    if rows.count > limit, let last = page.last?.id {
        next = sealedCursors ? services.pseudonyms.sealed(last) : Data(last.utf8).base64EncodedString()
    }
    if let redaction {
        page =
            page.map { row in
                var copy = row
                copy.document = ResponseJSON.text(redaction.json(JSONValue.parse(row.document) ?? .null))
                if resource.kind == .organisation { copy.id = redaction.id(row.id) }
                return copy
            }[...]
    }
    if let scope {
        var own: [EntityQueries.Row] = []
        for row in page where try await scope.owns(resource.kind, row.id) { own.append(row) }
        page = own[...]
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
