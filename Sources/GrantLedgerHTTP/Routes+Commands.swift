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

extension RouteRegistry {
    /// `POST /v1/commands`: managers; grantees for their own activities (`GranteeScope`).
    func addCommandRoutes(_ services: ServerServices) {
        let routes = group(.manager, .grantee)
        routes.post("/v1/commands") { request, context in
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

    }
}

/// `POST /v1/commands`: the answer, and whether it replays an earlier one.
func submitCommand(_ request: Request, _ context: LedgerRequestContext, _ services: ServerServices) async throws
    -> (Response, Bool)
{
    let identity = try context.requireIdentity()
    var request = request
    let body = try await request.collectBody(upTo: ServerLimits.maxBodyBytes)
    guard let text = String(validating: body.readableBytesView, as: UTF8.self) else {
        throw APIError.invalid("the request body is not valid UTF-8")
    }
    var command = try CommandRequest.parse(text)
    if let scope = try granteeScope(context, services) { try await scope.authorize(command.command) }
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

extension HTTPField.Name {
    /// `Idempotency-Key`.
    static let idempotencyKey = HTTPField.Name("Idempotency-Key") ?? .contentType
}
