import EventStore
import Foundation
import GrantDomain
import PostgresClient
import Testing

@testable import Projections

/// A small seedable generator (SplitMix64), so a failing history can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random but valid programme histories: every command goes through `decide`, and only
/// accepted ones are kept, so the log is one the real system could have recorded.
struct HistoryGenerator {
    var rng: SeededGenerator
    var history = InMemoryHistory()
    var organisations: [String] = []
    var calls: [String] = []
    var grants: [String] = []
    var subGrants: [String] = []
    var consortia: [(id: String, awarded: Bool)] = []
    var applications: [String] = []
    var counter = 0

    init(seed: UInt64) { rng = SeededGenerator(state: seed) }

    mutating func pick<T>(_ items: [T]) -> T? {
        items.isEmpty ? nil : items[Int.random(in: 0..<items.count, using: &rng)]
    }
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < p }
    mutating func date() -> String {
        "202\(Int.random(in: 4...5, using: &rng))-\(String(format: "%02d", Int.random(in: 1...12, using: &rng)))-\(String(format: "%02d", Int.random(in: 1...28, using: &rng)))"
    }
    mutating func fresh(_ prefix: String) -> String {
        counter += 1
        return "\(prefix)\(counter)"
    }

    mutating func tryRun(_ name: String, _ fields: [String: Any]) async -> Bool {
        var object = fields
        object["command"] = name
        guard let data = try? JSONSerialization.data(withJSONObject: object),
            let request = try? CommandRequest.parse(String(decoding: data, as: UTF8.self))
        else { return false }
        return (try? await history.execute(request.command)) != nil
    }

    mutating func step() async {
        switch Int.random(in: 0..<100, using: &rng) {
        case 0..<18:
            let id = fresh("O")
            let kz = chance(0.85)
            let registered = chance(0.55)
            var fields: [String: Any] = [
                "organisationId": id, "name": id, "country": kz ? "KZ" : pick(["UZ", "KG", "DE"])!,
                "registrationStatus": registered ? "registered" : "unregistered",
                "leadershipGender": pick(LeadershipGender.allCases.map(\.rawValue))!, "kind": "ngo",
            ]
            if kz {
                fields["regionCode"] = pick(Region.codes)!
                fields["settlement"] = pick(["urban", "rural"])!
                if registered { fields["bin"] = "990940003030" }
            }
            if chance(0.7) { fields["annualBudgetEur"] = String(Int.random(in: 5...200, using: &rng) * 1000) }
            if chance(0.6) { fields["staffCount"] = Int.random(in: 0...25, using: &rng) }
            if await tryRun("registerOrganisation", fields) { organisations.append(id) }
        case 18..<28:
            guard let id = pick(organisations) else { return }
            var fields: [String: Any] = ["organisationId": id]
            switch Int.random(in: 0..<5, using: &rng) {
            case 0: fields["annualBudgetEur"] = String(Int.random(in: 5...200, using: &rng) * 1000)
            case 1: fields["staffCount"] = Int.random(in: 0...25, using: &rng)
            case 2: fields["registrationStatus"] = "unregistered"
            case 3:
                fields["registrationStatus"] = "registered"
                fields["bin"] = "950440001673"
            default: fields["leadershipGender"] = pick(LeadershipGender.allCases.map(\.rawValue))!
            }
            _ = await tryRun("updateOrganisationProfile", fields)
        case 28..<31:
            _ = await tryRun(
                "setReportingRules",
                [
                    "smallMaxAnnualBudgetEur": String(Int.random(in: 30...150, using: &rng) * 1000),
                    "smallMaxStaff": Int.random(in: 3...20, using: &rng),
                ])
        case 31..<35:
            let id = fresh("C")
            if await tryRun(
                "publishCall",
                [
                    "callId": id, "reference": "R", "title": "T", "programme": pick(["CSO-LA", "EIDHR"])!,
                    "publishedOn": "2024-01-01", "deadline": "2025-12-31", "budget": "100000000", "minGrant": "1000",
                    "maxGrant": "5000000", "subGrantingAllowed": true, "maxSubGrant": "60000",
                ])
            {
                calls.append(id)
            }
        case 35..<45:
            guard organisations.count >= 2 else { return }
            let id = fresh("K")
            var members: [[String: String]] = []
            var used = Set<String>()
            for index in 0..<Int.random(in: 1...4, using: &rng) {
                guard let org = pick(organisations), used.insert(org).inserted else { continue }
                let role = index == 0 ? "lead" : pick(["coApplicant", "affiliatedEntity", "associate"])!
                members.append(["organisationId": org, "role": role])
            }
            if await tryRun("formConsortium", ["consortiumId": id, "name": id, "members": members]) {
                consortia.append((id, false))
            }
        case 45..<50:
            guard let consortium = pick(consortia.filter { !$0.awarded }), let org = pick(organisations) else { return }
            if chance(0.5) {
                _ = await tryRun(
                    "addConsortiumMember",
                    [
                        "consortiumId": consortium.id, "organisationId": org,
                        "role": pick(["coApplicant", "associate"])!,
                    ])
            } else {
                _ = await tryRun("removeConsortiumMember", ["consortiumId": consortium.id, "organisationId": org])
            }
        case 50..<60:
            guard let consortium = pick(consortia), let call = pick(calls) else { return }
            let id = fresh("A")
            if await tryRun(
                "submitApplication",
                [
                    "applicationId": id, "callId": call, "consortiumId": consortium.id, "submittedOn": "2024-01-10",
                    "requestedAmount": "500000",
                ])
            {
                applications.append(id)
            }
        case 60..<70:
            guard let application = pick(applications) else { return }
            let id = fresh("G")
            if await tryRun(
                "awardGrant",
                [
                    "grantId": id, "applicationId": application, "contractNumber": "CN-\(id)", "awardedOn": date(),
                    "amount": "500000", "startDate": "2024-01-01", "endDate": "2025-12-31",
                    "subGrantingEnvelope": "200000",
                ])
            {
                grants.append(id)
                if let state = try? await history.application(application),
                    let index = consortia.firstIndex(where: { $0.id == state.submission.consortiumId })
                {
                    consortia[index].awarded = true
                }
            }
        case 70..<90:
            guard let grant = pick(grants), let org = pick(organisations) else { return }
            let id = fresh("SG")
            if await tryRun(
                "awardSubGrant",
                [
                    "subGrantId": id, "grantId": grant, "organisationId": org, "awardedOn": date(),
                    "amount": String(Int.random(in: 1...30, using: &rng) * 1000), "purpose": "p",
                ])
            {
                subGrants.append(id)
            }
        default:
            guard let subGrant = pick(subGrants) else { return }
            _ = await tryRun("cancelSubGrant", ["subGrantId": subGrant, "cancelledOn": "2025-12-31", "reason": "r"])
        }
    }
}

extension SeededGenerator {
    /// A random I.3 query over the generator's years: a period starting on the first of a
    /// 2024 month, ending in 2024 or 2025, any programme or one, and (one time in four)
    /// `sometimesCall` when given.
    mutating func i3Query(sometimesCall call: String? = nil) -> I3Query {
        let fromMonth = Int.random(in: 1...12, using: &self)
        var query = I3Query(
            from: BusinessDate("2024-\(String(format: "%02d", fromMonth))-01")!,
            to: BusinessDate(["2024-12-31", "2025-06-30", "2025-12-31"][Int.random(in: 0..<3, using: &self)])!,
            programme: [nil, "CSO-LA", "EIDHR"][Int.random(in: 0..<3, using: &self)])
        if let call, Int.random(in: 0..<4, using: &self) == 0 { query.callId = call }
        return query
    }
}

extension HistoryGenerator {
    /// A random accepted history of `steps` steps, recorded in the real log of a fresh
    /// database (one command's events per append), with the log decoded as recorded.
    static func recorded(seed: UInt64, steps: Int) async throws
        -> (generator: HistoryGenerator, db: TestDatabase, log: [(position: Int64, event: DomainEvent)])
    {
        var generator = HistoryGenerator(seed: seed)
        for _ in 0..<steps { await generator.step() }
        let db = try await TestDatabase.make()
        for event in generator.history.log {
            _ = try await db.store.append([
                NewEvent(streamID: event.streamID, type: event.type, data: event.dataJSON, metadata: "{}")
            ])
        }
        let recorded = try await db.readAll(after: 0, count: generator.history.log.count)
        #expect(recorded.count == generator.history.log.count)
        let log = try recorded.map {
            (position: $0.position, event: try #require(try DomainEvent.decode(type: $0.type, data: $0.data)))
        }
        return (generator, db, log)
    }
}

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
