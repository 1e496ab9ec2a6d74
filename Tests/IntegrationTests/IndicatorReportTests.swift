import EventStore
import Foundation
import GrantDomain
import Ledger
import PostgresClient
import Projections
import Testing

@testable import TestSupport

/// Sign-offs, restatements and targets (docs/domain.md §9-§10) against a real log.
@Suite("Sign-offs, restatements and targets")
struct IndicatorReportTests {
    static func run(_ fields: [String: Any], _ name: String, on db: TestDatabase, actor: String = "m.e.officer")
        async throws -> CommandOutcome
    {
        var object = fields
        object["command"] = name
        let text = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        return try await CommandHandler(pool: db.pool, signOffFigures: LogFigures.signOffProvider(pool: db.pool))
            .handle(try CommandRequest.parse(text), actor: actor)
    }

    /// Applies a restatement's changes to the signed-off figures.
    static func applying(_ changes: [RestatementChange], to figures: I3Figures) -> I3Figures {
        var counts: [I3Place: Int] = [:]
        for cell in figures.cells {
            counts[
                I3Place(
                    regionCode: cell.regionCode, leadershipGender: cell.leadershipGender, settlement: cell.settlement,
                    registrationStatus: cell.registrationStatus), default: 0] += cell.count
        }
        var channels = figures.byChannel
        for change in changes {
            if let was = change.was { counts[was, default: 0] -= 1 }
            if let now = change.now { counts[now, default: 0] += 1 }
            for channel in change.wasChannels ?? [] { channels[channel, default: 0] -= 1 }
            for channel in change.nowChannels ?? [] { channels[channel, default: 0] += 1 }
        }
        return I3Figures(
            rules: figures.rules, byChannel: channels,
            cells: counts.map { place, count in
                I3Cell(
                    leadershipGender: place.leadershipGender, regionCode: place.regionCode,
                    settlement: place.settlement, registrationStatus: place.registrationStatus, count: count)
            })
    }

    /// Whether the event at a cause's position concerns the organisation the way the cause says.
    static func concerns(_ event: DomainEvent, _ organisationId: String, log: [(position: Int64, event: DomainEvent)])
        -> Bool
    {
        switch event {
        case .grantAwarded(let e): return e.members.contains { $0.organisationId == organisationId }
        case .subGrantAwarded(let e): return e.organisationId == organisationId
        case .subGrantCancelled(let c):
            return log.contains {
                if case .subGrantAwarded(let e) = $0.event {
                    e.subGrantId == c.subGrantId && e.organisationId == organisationId
                } else {
                    false
                }
            }
        default: return false
        }
    }

    @Test(
        "restatements: the changes take the signed-off figures to the current ones; every cause is in between",
        arguments: [UInt64(11), 12, 13])
    func restatement(seed: UInt64) async throws {
        let (_, db, log) = try await HistoryGenerator.recorded(seed: seed, steps: 500)
        let head = Int64(log.count)
        let reporter = I3Reporter(pool: db.pool)
        var rng = SeededGenerator(state: seed &* 6_700_417)
        var changesSeen = 0
        for index in 0..<8 {
            let before = Int64.random(in: 1...head, using: &rng)
            let after = Int64.random(in: before...head, using: &rng)
            let query = rng.i3Query()
            var fields: [String: Any] = [
                "reportId": "R-\(seed)-\(index)", "indicator": "I.3", "from": query.from.description,
                "to": query.to.description, "position": before, "signedOffOn": "2026-01-20",
            ]
            if let programme = query.programme { fields["programme"] = programme }
            let outcome = try await Self.run(fields, "signOffIndicatorReport", on: db)
            // Readers see the gap-free prefix: wait until it reaches the sign-off.
            _ = try await db.readAll(after: outcome.events[0].position - 1, count: 1)

            // The recorded figures are the report at the position, and the reference fold's.
            let record = try #require(try await reporter.signOff("R-\(seed)-\(index)"))
            let atPosition = try await reporter.report(query, cutOff: .position(before))
            #expect(record.base.figures.i3 == atPosition.figures)
            #expect(record.base.figures.i3 == I3Reference.compute(log, query: query, cutoff: before))
            #expect(record.base.asOf == atPosition.asOf)
            #expect(record.recorded.actor == "m.e.officer")

            let restatement = try await reporter.restatement("R-\(seed)-\(index)", cutOff: .position(after))
            // The server's path (the in-memory index) restates the same.
            let server = I3Reporter(pool: db.pool)
            server.knownHead.update(try await server.runner.checkpoint(of: "i3"))
            let fromMemory = try await server.restatement("R-\(seed)-\(index)", cutOff: .position(after))
            #expect(fromMemory.changes == restatement.changes)
            #expect(fromMemory.currentFigures == restatement.currentFigures)
            let current = try await reporter.report(query, cutOff: .position(after))
            #expect(restatement.currentFigures == current.figures)
            #expect(restatement.current.position == after)
            #expect(restatement.signedOff.position == before)
            // Applying the changes to the signed-off cells and channels gives the current ones.
            let applied = Self.applying(restatement.changes, to: try #require(record.base.figures.i3))
            #expect(applied.cells == current.figures.cells)
            #expect(applied.byChannel == current.figures.byChannel)
            #expect(restatement.delta.total == current.figures.total - atPosition.figures.total)
            for (name, counts) in current.figures.margins {
                let old = atPosition.figures.margins.first { $0.name == name }?.counts ?? []
                for ((key, count), (_, was)) in zip(counts, old) {
                    #expect(restatement.delta.value(name, key) == count - was, "\(name).\(key)")
                }
            }
            for change in restatement.changes {
                #expect(!change.causes.isEmpty, "\(change.organisationId) changed without a cause")
                for cause in change.causes {
                    #expect(cause.position > before && cause.position <= after)
                    let event = try #require(log.first { $0.position == cause.position }?.event)
                    #expect(event.type == cause.type)
                    #expect(
                        Self.concerns(event, change.organisationId, log: log), "\(cause) of \(change.organisationId)")
                }
                #expect(change.causes.map(\.position) == change.causes.map(\.position).sorted())
            }
            changesSeen += restatement.changes.count
        }
        #expect(changesSeen > 0, "the histories must restate something")
    }

    @Test("a sign-off's figures survive an export and import; the restatement at its own position is empty")
    func signOffRoundTrip() async throws {
        let (_, db, log) = try await HistoryGenerator.recorded(seed: 21, steps: 300)
        let query = I3Query(from: BusinessDate("2024-01-01")!, to: BusinessDate("2025-12-31")!)
        _ = try await Self.run(
            [
                "reportId": "ANNUAL", "indicator": "I.3", "from": "2024-01-01", "to": "2025-12-31",
                "position": log.count / 2, "signedOffOn": "2026-01-20", "note": "Отчёт для Делегации ЕС",
            ], "signOffIndicatorReport", on: db)
        _ = try await db.readAll(after: Int64(log.count), count: 1)
        let reporter = I3Reporter(pool: db.pool)
        let signed = try #require(try await reporter.signOff("ANNUAL"))
        #expect(signed.base.note == "Отчёт для Делегации ЕС")
        let unchanged = try await reporter.restatement("ANNUAL", cutOff: .position(Int64(log.count / 2)))
        #expect(unchanged.changes.isEmpty)
        #expect(unchanged.delta.total == 0)
        let beforeIt = try? await reporter.restatement("ANNUAL", cutOff: .position(Int64(log.count / 2 - 1)))
        #expect(beforeIt == nil)

        let lines = LinesBox()
        try await db.store.export(write: { lines.append($0) })
        let copy = try await TestDatabase.make()
        _ = try await StoreSession(connection: try await copy.owner()).importArchive(lines.values.map { Substring($0) })
        // Readers see the imported events once no older transaction of the cluster is open
        // (a test running beside this one may hold one): wait for them, as readers do.
        _ = try await copy.readAll(after: 0, count: lines.values.count)
        let copied = I3Reporter(pool: copy.pool)
        let imported = try #require(try await copied.signOff("ANNUAL"))
        #expect(imported.base.figures == signed.base.figures)
        let fresh = try await copied.report(query, cutOff: .position(Int64(log.count / 2)))
        #expect(imported.base.figures.i3 == fresh.figures)
        #expect(imported.base.asOf == fresh.asOf)
    }

    @Test("targets: the latest revision is in force, programme filter, zero target, zero actual, shares rounded")
    func targets() async throws {
        let db = try await TestDatabase.make()
        try await db.importSample()
        let reporter = I3Reporter(pool: db.pool)
        let period = I3Query(from: BusinessDate("2024-01-01")!, to: BusinessDate("2026-12-31")!)
        let figures = try await reporter.report(period).figures
        let first = try await Self.run(
            [
                "targetId": "T-ALL", "indicator": "I.3", "from": "2024-01-01", "to": "2026-12-31", "baseline": 0,
                "target": 40, "minimumShares": ["leadershipGender": ["women": "0.5"], "settlement": ["rural": "0.4"]],
            ], "setIndicatorTarget", on: db)
        let revisedAt = first.events[0].position
        _ = try await Self.run(
            [
                "targetId": "T-ALL", "indicator": "I.3", "from": "2024-01-01", "to": "2026-12-31", "baseline": 5,
                "baselineNote": "Mapping of 2023", "target": 3 * figures.total,
                "minimumShares": ["leadershipGender": ["women": "0.5"], "channel": ["subGrant": "0.75"]],
            ], "setIndicatorTarget", on: db)
        _ = try await Self.run(
            [
                "targetId": "T-ZERO", "indicator": "I.3", "programme": "EIDHR", "from": "2024-01-01",
                "to": "2026-12-31", "target": 0,
            ],
            "setIndicatorTarget", on: db)
        _ = try await Self.run(
            [
                "targetId": "T-EMPTY", "indicator": "I.3", "from": "2019-01-01", "to": "2019-12-31", "target": 10,
                "minimumShares": ["settlement": ["rural": "0.3"]],
            ], "setIndicatorTarget", on: db)

        // Readers see the gap-free prefix: wait until it reaches the last revision.
        let last = try await db.committedEvents().last?.position ?? 0
        _ = try await db.readAll(after: last - 1, count: 1)

        // The sample programme sets targets of its own (I3-...); these are the test's.
        let progress = try await reporter.progress()
        #expect(progress.targets.map(\.targetId).filter { $0.hasPrefix("T-") } == ["T-ALL", "T-EMPTY", "T-ZERO"])
        let all = try #require(progress.targets.first { $0.targetId == "T-ALL" })
        // The latest revision is in force: its target, baseline and shares.
        #expect(all.target == Int64(3 * figures.total))
        #expect(all.baseline == 5)
        #expect(all.actual == figures.total)
        #expect(all.achieved == Ratio(figures.total, over: 3 * figures.total))
        #expect(all.achieved?.description == "0.3333")
        #expect(Set(all.shares.keys) == ["leadershipGender", "channel"])
        let women = try #require(all.shares["leadershipGender"]?["women"])
        #expect(women.minimum.description == "0.5")
        #expect(women.actual == Ratio(figures.byLeadershipGender[.women] ?? 0, over: figures.total))
        #expect(
            all.shares["channel"]?["subGrant"]?.actual == Ratio(figures.byChannel[.subGrant] ?? 0, over: figures.total))
        // A zero target has no achievement; a period without accesses has no shares.
        let zero = try #require(progress.targets.first { $0.targetId == "T-ZERO" })
        #expect(zero.achieved == nil)
        #expect(zero.programme == "EIDHR")
        let empty = try #require(progress.targets.first { $0.targetId == "T-EMPTY" })
        #expect(empty.actual == 0)
        #expect(empty.achieved?.description == "0.0000")
        #expect(empty.shares["settlement"]?["rural"]?.actual == nil)
        // Before the revision, the first version was in force.
        let earlier = try await reporter.progress(cutOff: .position(revisedAt))
        #expect(earlier.targets.map(\.targetId).filter { $0.hasPrefix("T-") } == ["T-ALL"])
        #expect(earlier.targets.first { $0.targetId == "T-ALL" }?.target == 40)
        // The programme filter keeps that programme's targets only.
        #expect(try await reporter.progress(programme: "EIDHR").targets.map(\.targetId) == ["T-ZERO"])
        // JSON: nulls where there is no value.
        let json = ResponseJSON.text(progress)
        #expect(json.contains("\"achieved\":null"))
        #expect(json.contains("\"actual\":null"))
    }

    @Test("warming the server's fold brings it to the head without a read asking; reads bring it on from there")
    func warmFold() async throws {
        let db = try await TestDatabase.make()
        try await db.importSample()
        let head = try await db.store.seal().position
        let known = KnownHead()
        known.update(head)
        let memory = IndicatorMemory(store: db.store, knownHead: known)
        #expect(await memory.standsAt == 0)
        memory.warm()
        #expect(try await eventually(timeout: .seconds(60)) { await memory.standsAt == head })
        let recorded = try await Self.run(
            [
                "activityId": "ACT-WARM", "title": "Training", "startedOn": "2025-06-01", "kind": "capacityDevelopment",
                "organiser": "eu", "withGovernment": false, "themes": ["disinformation"], "participants": [],
            ], "recordActivity", on: db)
        // Sealed, as the server's projection service seals before it moves the known head;
        // another test's open transaction may hold the cluster's gap-free horizon (and so
        // sealing) below it for a while.
        let later = try #require(recorded.events.map(\.position).max())
        #expect(later > head)
        #expect(try await eventually(timeout: .seconds(60)) { try await db.store.seal().position >= later })
        known.update(later)
        #expect(try await eventually(timeout: .seconds(60)) { try await memory.atHead().asOf.position == later })
        #expect(await memory.standsAt == later)
    }

    @Test("the server's in-memory fold answers as a replay of the log, and follows the events recorded after it")
    func memoryFollowsTheLog() async throws {
        let db = try await TestDatabase.make()
        try await db.importSample()
        let memory = IndicatorMemory(store: db.store)
        let query = IndicatorQuery(from: BusinessDate("2025-01-01")!, to: BusinessDate("2025-12-31")!)
        func compare() async throws -> FrameworkReport {
            let reporter = I3Reporter(pool: db.pool)
            let fromMemory = try await FrameworkReport.make(
                query, cutOff: .head, pool: db.pool, memory: memory,
                i3: { try await reporter.report($0, cutOff: .position($1)).figures })
            // The memory answers as of the point it states (it may stand a moment behind the
            // head while an older transaction of the cluster is open: the gap-free prefix).
            let replayed = try await FrameworkReport.make(
                query, cutOff: .position(fromMemory.asOf.position), pool: db.pool)
            #expect(fromMemory.asOf == replayed.asOf)
            #expect(fromMemory.indicators.map(\.value) == replayed.indicators.map(\.value))
            #expect(
                fromMemory.indicators.map { $0.targets.map(\.actual) }
                    == replayed.indicators.map { $0.targets.map(\.actual) })
            // Every activity and people indicator for other periods, from the period indexes.
            let snapshot = try await memory.atHead()
            var ledger = ActivityLedger()
            _ = try await LogReplay.replay(pool: db.pool, cutOff: .position(snapshot.asOf.position)) {
                ledger.apply($0.event, at: $0.position)
            }
            for (from, to) in [
                ("2024-01-01", "2024-12-31"), ("2025-03-15", "2026-02-01"), ("2023-01-01", "2027-12-31"),
            ] {
                let period = IndicatorQuery(from: BusinessDate(from)!, to: BusinessDate(to)!)
                for definition in ResultsFramework.indicators where definition.measure != .smallOrganisations {
                    #expect(
                        snapshot.figures(definition, period) == ledger.figures(definition, period), "\(definition.code)"
                    )
                }
            }
            for definition in ResultsFramework.indicators where definition.drillDown == "activities" {
                let a = try await IndicatorEngine.drillDown(
                    definition, "activities", query, cutOff: .head, pool: db.pool, memory: memory)
                let b = try await IndicatorEngine.drillDown(
                    definition, "activities", query, cutOff: .head, pool: db.pool)
                #expect(a.activities == b.activities, "\(definition.code)")
            }
            return fromMemory
        }
        let before = try await compare()
        // A capacity development activity recorded now counts at once in III.5, from memory.
        _ = try await Self.run(
            [
                "activityId": "ACT-MEM", "title": "Training", "startedOn": "2025-06-01", "kind": "capacityDevelopment",
                "organiser": "eu", "withGovernment": false, "themes": ["disinformation"], "participants": [],
            ], "recordActivity", on: db)
        // The memory follows the log: soon it stands on the new event and counts it.
        #expect(try await eventually { try await memory.atHead().asOf.position == before.asOf.position + 1 })
        let after = try await compare()
        let value = { (report: FrameworkReport) in report.indicators.first { $0.indicator == "III.5" }?.value }
        #expect(value(after) == value(before).map { $0 + 1 })
        #expect(after.asOf.position == before.asOf.position + 1)
    }
}
