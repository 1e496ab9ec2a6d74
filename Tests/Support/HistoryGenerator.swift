import EventStore
import Foundation
import GrantDomain
import PostgresClient
import Testing

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
