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
    /// The log for auditors (events, verification, quarantine, proofs), and the published
    /// checkpoint, which is public.
    func addAuditRoutes(_ services: ServerServices) {
        let routes = group(.auditor)
        // Proofs: auditors, and grantees for the events of their own entities.
        let provers = group(.auditor, .grantee)
        let everyone = self
        routes.get("/v1/events") { request, context in
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

        routes.get("/v1/audit/verify") { _, context in
            // A verification reads the whole log: one at a time, the others are told to retry.
            guard let report = try await services.verification.run({ try await services.store.verify() }) else {
                var busy = APIError(.tooManyRequests, "busy", "an audit verification is already running; retry shortly")
                busy.headers[.retryAfter] = "5"
                throw busy
            }
            return jsonResponse(report.ok ? .ok : .conflict, ResponseJSON.text(report))
        }

        routes.get("/v1/audit/quarantine") { _, context in
            let quarantined = try await services.reporter.runner.quarantined()
            return jsonResponse(.ok, #"{"quarantined": \#(ResponseJSON.text(quarantined))}"#)
        }

        everyone.get("/v1/audit/checkpoint") { _, _ in
            // Public: publishing the log's heads is the point.
            guard let note = try await services.checkpoints.checkpoint() else {
                throw APIError.notFound(services.checkpoints.missingReason)
            }
            return textResponse(note, contentType: "text/plain; charset=utf-8")
        }

        everyone.get("/v1/audit/checkpoint/pending") { _, _ in
            jsonResponse(.ok, ResponseJSON.text(services.checkpoints.pending()))
        }

        provers.get("/v1/audit/proof/inclusion") { request, context in
            guard let position = try sizeParameter(request, "position", required: true) else {
                throw APIError.invalid("position is required")
            }
            let treeSize = try sizeParameter(request, "treeSize", required: false)
            if let scope = try granteeScope(context, services), try await !scope.owns(position: position) {
                throw GranteeScope.forbidden
            }
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

        provers.get("/v1/audit/proof/consistency") { request, context in
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
    }
}

/// Maps a proof request the store cannot answer to 404 (no such event) or 400.
func proofErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as ProofRequestError {
        throw error.notFound ? APIError.notFound(error.message) : APIError.invalid(error.message)
    }
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
