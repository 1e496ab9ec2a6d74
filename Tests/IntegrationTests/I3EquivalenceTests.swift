import EventStore
import Foundation
import GrantDomain
import PostgresClient
import Testing

@testable import Projections
@testable import TestSupport

@Suite("I.3 from projections equals the reference fold")
struct I3EquivalenceTests {
    @Test("random histories, periods, filters and cut-offs", arguments: [UInt64(1), 2, 3, 4])
    func equivalence(seed: UInt64) async throws {
        let (generator, db, log) = try await HistoryGenerator.recorded(seed: seed, steps: 400)

        let reporter = I3Reporter(pool: db.pool)
        var rng = SeededGenerator(state: seed &* 7919)
        var nonZero = 0
        for _ in 0..<25 {
            let cutoff = Int64.random(in: 1...Int64(log.count), using: &rng)
            let query = rng.i3Query(sometimesCall: generator.calls.first)
            let expected = I3Reference.compute(log, query: query, cutoff: cutoff)
            let report = try await reporter.report(query, cutOff: .position(cutoff))
            #expect(report.figures == expected, "seed \(seed) cutoff \(cutoff) query \(query)")
            #expect(report.asOf.position == cutoff)
            // The server's path: the in-memory index over the same read model.
            let fromMemory = try await reporter.reportFromReadModel(query, cutOff: .position(cutoff))
            #expect(fromMemory.figures == expected, "in memory: seed \(seed) cutoff \(cutoff) query \(query)")
            if expected.total > 0 { nonZero += 1 }
        }
        // The generator must produce histories where the indicator is not trivially zero.
        #expect(nonZero > 5)
    }

    @Test(
        "at the head, the period index answers any period and filter as the reference fold",
        arguments: [UInt64(7), 8, 9])
    func periodIndex(seed: UInt64) async throws {
        let (generator, db, log) = try await HistoryGenerator.recorded(seed: seed, steps: 500)
        let reporter = I3Reporter(pool: db.pool)
        let head = Int64(log.count)
        _ = try await reporter.report(I3Query(from: BusinessDate("2024-01-01")!, to: BusinessDate("2024-01-01")!))
        try await db.pool.withConnection { try await reporter.memory.refresh(upTo: head, on: $0) }
        var rng = SeededGenerator(state: seed &* 31_337)
        var nonZero = 0
        for round in 0..<60 {
            var query = rng.i3Query(sometimesCall: generator.calls.randomElement(using: &rng))
            // Any day as a bound, not only month starts; sometimes an empty or inverted period.
            if round % 3 == 0 {
                let day = { (year: Int) in
                    BusinessDate(
                        "\(year)-\(String(format: "%02d-%02d", Int.random(in: 1...12, using: &rng), Int.random(in: 1...28, using: &rng)))"
                    )!
                }
                query.from = day(2024)
                query.to = day(Int.random(in: 2024...2025, using: &rng))
            }
            let expected = I3Reference.compute(log, query: query, cutoff: head)
            let indexed = try #require(reporter.memory.figuresByPeriodIndex(query, cutoff: head))
            #expect(indexed == expected, "seed \(seed) query \(query)")
            #expect(reporter.memory.figuresByScan(query, cutoff: head) == expected, "seed \(seed) query \(query)")
            if expected.total > 0 { nonZero += 1 }
        }
        #expect(nonZero > 20)
        // A cut-off before the latest access or cancellation is not the index's to answer.
        let latest = try await db.pool.withConnection {
            try await $0.query(
                "SELECT max(greatest(position, coalesce(cancelled_position, 0))) FROM rm_i3.accesses WHERE small AND country = 'KZ'"
            )[0].decode(Int64.self, 0)
        }
        let query = I3Query(from: BusinessDate("2024-01-01")!, to: BusinessDate("2025-12-31")!)
        #expect(reporter.memory.figuresByPeriodIndex(query, cutoff: latest - 1) == nil)
        #expect(
            reporter.memory.figuresByPeriodIndex(query, cutoff: latest)
                == I3Reference.compute(log, query: query, cutoff: latest))
    }

    @Test(
        "the listed organisations add up to the figure, cell by cell and channel by channel", arguments: [UInt64(5), 6])
    func drillDown(seed: UInt64) async throws {
        let (_, db, log) = try await HistoryGenerator.recorded(seed: seed, steps: 400)
        let reporter = I3Reporter(pool: db.pool)
        var rng = SeededGenerator(state: seed &* 104_729)
        var rowsSeen = 0
        for _ in 0..<12 {
            let cutoff = Int64.random(in: 1...Int64(log.count), using: &rng)
            let query = rng.i3Query()
            let report = try await reporter.report(query, cutOff: .position(cutoff))
            let (asOf, rows) = try await reporter.organisations(query, cutOff: .position(cutoff))
            #expect(asOf == report.asOf)
            #expect(rows.count == report.figures.total, "seed \(seed) cutoff \(cutoff) query \(query)")
            // Every row is the reference fold's first qualifying access, in report order.
            let reference = I3Reference.organisations(log, query: query, cutoff: cutoff)
            #expect(rows == reference.rows, "seed \(seed) cutoff \(cutoff) query \(query)")
            #expect(I3Figures(rules: report.figures.rules, rows: rows) == report.figures)
            // The server's path: the in-memory index gives the same rows.
            reporter.knownHead.update(try await reporter.runner.checkpoint(of: "i3"))
            let fromMemory = try await reporter.organisationsFromMemory(query, filter: I3RowFilter(), cut: cutoff)
            #expect(fromMemory?.rows == rows, "in memory: seed \(seed) cutoff \(cutoff) query \(query)")
            #expect(fromMemory?.asOf == asOf)
            // Rendered in batches (the server) or row by row (the CLI): the same document.
            for format in ReportFormat.allCases {
                let list = I3OrganisationList(query: query, filter: I3RowFilter(), format: format)
                let batched =
                    list.header(asOf: asOf) + (await list.render(rows)).joined()
                    + list.footer(count: rows.count)
                let single =
                    list.header(asOf: asOf) + rows.enumerated().map { list.row($1, index: $0) }.joined()
                    + list.footer(count: rows.count)
                #expect(batched == single, "\(format)")
                if format == .json {
                    let parsed = try JSONSerialization.jsonObject(with: Data(batched.utf8)) as? [String: Any]
                    #expect((parsed?["organisations"] as? [Any])?.count == rows.count)
                }
            }
            rowsSeen += rows.count
            // Each cell's filter lists exactly that cell's count; each channel its byChannel.
            for cell in report.figures.cells.prefix(6) {
                let filter = I3RowFilter(
                    regionCode: cell.regionCode, leadershipGender: cell.leadershipGender, settlement: cell.settlement,
                    registrationStatus: cell.registrationStatus)
                let listed = try await reporter.organisations(query, filter: filter, cutOff: .position(cutoff)).rows
                #expect(listed.count == cell.count)
                #expect(listed.allSatisfy(filter.admits))
                let inMemory = try await reporter.organisationsFromMemory(query, filter: filter, cut: cutoff)?.rows
                #expect(inMemory == listed)
            }
            for channel in AccessChannel.allCases {
                let listed = try await reporter.organisations(
                    query, filter: I3RowFilter(channel: channel), cutOff: .position(cutoff)
                ).rows
                #expect(listed.count == report.figures.byChannel[channel] ?? 0)
            }
            let gender = LeadershipGender.allCases[Int.random(in: 0..<4, using: &rng)]
            let byGender = try await reporter.organisations(
                query, filter: I3RowFilter(leadershipGender: gender), cutOff: .position(cutoff)
            ).rows
            #expect(byGender.count == report.figures.byLeadershipGender[gender] ?? 0)
        }
        #expect(rowsSeen > 20, "the histories must list organisations")
    }

    @Test("a rebuilt projection answers exactly like the incrementally built one")
    func rebuildEquivalence() async throws {
        var generator = HistoryGenerator(seed: 42)
        for _ in 0..<600 { await generator.step() }
        #expect(generator.history.log.contains { if case .subGrantCancelled = $0 { true } else { false } })
        let db = try await TestDatabase.make()
        let reporter = I3Reporter(pool: db.pool)
        let query = I3Query(from: BusinessDate("2024-01-01")!, to: BusinessDate("2025-12-31")!)
        // Project while the log grows, in several steps.
        for (index, event) in generator.history.log.enumerated() {
            _ = try await db.store.append([
                NewEvent(streamID: event.streamID, type: event.type, data: event.dataJSON, metadata: "{}")
            ])
            if index % 37 == 0 {
                // Grow the in-memory index window by window, cancellations of earlier windows included.
                let fresh = try await reporter.report(query)
                let fromMemory = try await reporter.reportFromReadModel(query, cutOff: .position(fresh.asOf.position))
                #expect(fromMemory.figures == fresh.figures, "after \(index + 1) events")
            }
        }
        _ = try await db.readAll(after: 0, count: generator.history.log.count)
        let incremental = try await reporter.report(query)
        try await reporter.runner.rebuild()
        let rebuilt = try await reporter.report(query)
        #expect(incremental.figures == rebuilt.figures)
        #expect(incremental.asOf == rebuilt.asOf)
        let status = try await reporter.runner.status()
        #expect(status.allSatisfy { $0.lag == 0 })
    }
}
