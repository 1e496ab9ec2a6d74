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
        // The client's own write: sealed and projected first, for a bounded time. Not
        // readable by then (a transaction elsewhere in the cluster holds the readers'
        // gap-free horizon back): 503 with Retry-After, never an answer without the write.
        let head = try await runner.sealAndCatchUp(reaching: requirement.minimum, patience: ReadReplicas.patience)
        guard head.position >= requirement.minimum else { throw requirement.notYetReadable() }
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

/// A proof from a healthy replica when there is one; from the primary when there is none,
/// when the replica has not sealed that far yet, or when it fails.
func fromReplicaFirst<T>(_ services: ServerServices, _ prove: (EventStore) async throws -> T) async throws -> T {
    if let replica = services.replicas.ready(\.events, reaching: 0), let proof = try? await prove(replica.store) {
        return proof
    }
    return try await prove(services.store)
}
