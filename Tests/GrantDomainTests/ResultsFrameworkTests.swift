import Foundation
import GrantDomain
import Testing

/// A small seedable generator (SplitMix64), so that a failing history can be replayed.
struct Seeded: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random histories of activities on the base history of CommandRuleTests (grant G1 under
/// call C1 of programme CSO-LA): organisations, profile changes between activities,
/// activities of every kind by the EU and the grantee, retractions, index values and
/// revisions. Only accepted commands are kept.
func activityHistory(seed: UInt64, steps: Int = 120) async throws -> InMemoryHistory {
    var rng = Seeded(state: seed)
    var history = try await baseHistory()
    var organisations = ["LEAD", "S1", "S2", "S3"]
    var activities: [String] = []
    func pick<T>(_ values: [T]) -> T { values[Int.random(in: 0..<values.count, using: &rng)] }
    func date(_ year: Int = 2025) -> String {
        String(
            format: "%d-%02d-%02d", year + Int.random(in: 0...1, using: &rng), Int.random(in: 1...12, using: &rng),
            Int.random(in: 1...28, using: &rng))
    }
    for step in 0..<steps {
        var text: String
        switch Int.random(in: 0..<10, using: &rng) {
        case 0:
            let id = "O\(step)"
            organisations.append(id)
            let kz = Int.random(in: 0..<5, using: &rng) > 0
            var fields: [String: Any] = [
                "organisationId": id, "name": "Org \(id)", "country": kz ? "KZ" : "UZ",
                "registrationStatus": "unregistered", "leadershipGender": pick(["women", "men", "mixed"]),
                "kind": "informalGroup",
            ]
            if kz {
                fields["regionCode"] = pick(Region.codes)
                fields["settlement"] = pick(["urban", "rural"])
            }
            text = command("registerOrganisation", fields)
        case 1:
            text = command(
                "updateOrganisationProfile",
                ["organisationId": pick(organisations), "leadershipGender": pick(["women", "men"])])
        case 2:
            guard let activity = activities.randomElement(using: &rng) else { continue }
            text = command("retractActivity", ["activityId": activity, "retractedOn": "2027-01-01", "reason": "r"])
        case 3:
            text = command(
                "recordIndexValue",
                [
                    "indexId": pick(IndexId.allCases.map(\.rawValue)), "year": Int.random(in: 2022...2026, using: &rng),
                    "value": pick(["37", "37.5", "40.25", "12", "1000"]), "source": "s",
                ])
        default:
            let id = "ACT-\(step)"
            let kind = pick(ActivityKind.allCases)
            let grantee = Bool.random(using: &rng)
            var fields: [String: Any] = [
                "activityId": id, "title": "A \(step)", "startedOn": grantee ? date() : date(2024),
                "kind": kind.rawValue,
                "organiser": grantee ? "grantee" : "eu", "withGovernment": Bool.random(using: &rng),
                "themes": Array(
                    Set((0..<Int.random(in: 0...3, using: &rng)).map { _ in pick(Theme.allCases).rawValue })),
                "participants": Array(Set((0..<Int.random(in: 0...4, using: &rng)).map { _ in pick(organisations) })),
            ]
            if grantee { fields["grantId"] = "G1" }
            if Bool.random(using: &rng) { fields["regionCode"] = pick(Region.codes) }
            if kind == .protectionSupport {
                fields["peopleSupported"] = [
                    "hrd": ["women": Int.random(in: 1...5, using: &rng), "men": 0, "undisclosed": 1],
                    "activist": ["women": 0, "men": Int.random(in: 0...3, using: &rng), "undisclosed": 0],
                    "journalist": ["women": 2, "men": 0, "undisclosed": Int.random(in: 0...2, using: &rng)],
                ]
            }
            text = command("recordActivity", fields)
            activities.append(id)
        }
        do {
            try await history.execute(try CommandRequest.parse(text).command)
        } catch is DomainError {
            continue  // a command the rules refuse (a grantee activity outside G1's period, ...)
        }
    }
    return history
}

/// docs/domain.md §13, written straight from its words, over a prefix of the log: the
/// reference the engine is held to.
enum ReferenceFramework {
    /// "it meets the indicator's conditions below".
    static func conditions(_ code: String, _ a: RecordActivity) -> Bool {
        let t = Set(a.themes)
        switch code {
        case "I.1":
            return a.kind == .dialogue && a.organiser == .eu && a.withGovernment && t.contains(.enablingEnvironment)
        case "I.2": return a.kind == .researchOrMonitoring && t.contains(.enablingEnvironment)
        case "I.4": return a.kind == .protectionSupport
        case "II.1": return a.kind == .policyDiscussion && a.organiser == .eu
        case "II.2":
            return a.kind == .dialogue && a.organiser == .grantee && a.withGovernment
                && !t.isDisjoint(with: [.greenDeal, .digitalisation, .goodGovernance, .humanRights])
        case "II.3": return a.kind == .participationInitiative
        case "III.1": return a.kind == .dialogue && a.withGovernment && t.contains(.csoSustainability)
        case "III.2": return a.kind == .sustainabilityInitiative
        case "III.3", "III.5": return a.kind == .capacityDevelopment
        case "III.4": return a.kind == .outreachInitiative
        case "III.6": return a.kind == .networkingInitiative
        default: return false
        }
    }

    /// "recorded and not retracted at the cut-off, its startedOn in from..to, the
    /// conditions, and under a programme or call filter a grantId whose call matches".
    static func qualifying(_ log: ArraySlice<DomainEvent>, _ code: String, _ q: IndicatorQuery) -> [(
        RecordActivity, Int
    )] {
        var retracted: Set<String> = []
        var grantCall: [String: String] = [:]
        var programme: [String: String] = [:]
        for event in log {
            if case .activityRetracted(let e) = event { retracted.insert(e.activityId) }
            if case .grantAwarded(let e) = event { grantCall[e.grantId] = e.callId }
            if case .callPublished(let e) = event { programme[e.callId] = e.programme }
        }
        var result: [(RecordActivity, Int)] = []
        for (index, event) in zip(log.indices, log) {
            guard case .activityRecorded(let a) = event, !retracted.contains(a.activityId),
                q.from <= a.startedOn, a.startedOn <= q.to, conditions(code, a)
            else { continue }
            if q.programme != nil || q.callId != nil {
                guard let grant = a.grantId, let call = grantCall[grant] else { continue }
                if let wanted = q.callId, call != wanted { continue }
                if let wanted = q.programme, programme[call] != wanted { continue }
            }
            result.append((a, index))
        }
        return result
    }

    /// III.3: "every participant's snapshot (its profile after all earlier events)
    /// qualifies if its country is KZ and its leadershipGender is women"; each organisation
    /// described by its first qualifying snapshot (earliest startedOn, ties by position).
    static func womenLed(_ log: ArraySlice<DomainEvent>, _ q: IndicatorQuery) -> [String: OrganisationProfile] {
        var chosen: [String: (profile: OrganisationProfile, date: BusinessDate, index: Int)] = [:]
        for (activity, index) in qualifying(log, "III.3", q) {
            for id in activity.participants {
                var profile: OrganisationProfile?
                for event in log[..<index] {
                    if case .organisationRegistered(let e) = event, e.organisationId == id { profile = e }
                    if case .organisationProfileUpdated(let e) = event, e.organisationId == id {
                        profile = profile?.applying(e)
                    }
                }
                guard let profile, profile.country == "KZ", profile.leadershipGender == .women else { continue }
                if let earlier = chosen[id], (earlier.date, earlier.index) <= (activity.startedOn, index) { continue }
                chosen[id] = (profile, activity.startedOn, index)
            }
        }
        return chosen.mapValues(\.profile)
    }
}

@Suite("The results framework (docs/domain.md §13)")
struct ResultsFrameworkTests {
    static let asOf = LogPoint(position: 0, recordedAt: nil, hash: "")

    @Test("the catalogue: 14 indicators in the Roadmap's order, under their objectives")
    func catalogue() {
        #expect(
            ResultsFramework.indicators.map(\.code) == [
                "I.1", "I.2", "I.3", "I.4", "I.5", "II.1", "II.2", "II.3", "III.1", "III.2", "III.3", "III.4", "III.5",
                "III.6",
            ])
        for indicator in ResultsFramework.indicators {
            #expect(indicator.code.hasPrefix(indicator.objective + "."))
            #expect(!indicator.title.isEmpty)
        }
    }

    @Test(
        "every indicator equals the reference over random histories, cut-offs, periods and filters",
        arguments: [UInt64(1), 2, 3, 4, 5, 6])
    func equalsReference(seed: UInt64) async throws {
        let history = try await activityHistory(seed: seed)
        var rng = Seeded(state: seed &* 7919)
        var counted = 0  // reports with something in them: the comparison is not of zeros alone
        var periodIndexChecks = 0
        for _ in 0..<12 {
            let cut = Int.random(in: 0...history.log.count, using: &rng)
            let log = history.log[..<cut]
            var ledger = ActivityLedger()
            for (index, event) in log.enumerated() { ledger.apply(event, at: Int64(index + 1)) }
            let from = BusinessDate("\(Int.random(in: 2023...2026, using: &rng))-01-01")!
            let to = BusinessDate("\(Int.random(in: from.year...2027, using: &rng))-12-31")!
            let query = IndicatorQuery(
                from: from, to: to, programme: Bool.random(using: &rng) ? nil : "CSO-LA",
                callId: Int.random(in: 0..<4, using: &rng) == 0 ? "C1" : nil)
            for definition in ResultsFramework.indicators where definition.code != "I.3" {
                let report = ledger.report(definition, query, asOf: Self.asOf)
                let reference = ReferenceFramework.qualifying(log, definition.code, query)
                // The server's path (a binary search in the admitted activities) counts the same.
                let admitted = ledger.admitted(definition)
                #expect(
                    ledger.qualifying(definition, query, admitted: admitted).map(\.activity.activityId)
                        == ledger.qualifying(definition, query).map(\.activity.activityId), "\(definition.code)")
                #expect(ledger.figures(definition, query, admitted: admitted) == report.extras)
                // The server's period index of cumulative counts gives the same figures.
                if query.programme == nil && query.callId == nil,
                    let index = IndicatorPeriodIndex(definition, admitted: admitted)
                {
                    #expect(index.figures(from: query.from, to: query.to) == report.extras, "\(definition.code)")
                    periodIndexChecks += 1
                }
                if query.programme == nil && query.callId == nil,
                    let index = FirstSupportIndex(definition, admitted: admitted, ledger: ledger)
                {
                    #expect(index.figures(from: query.from, to: query.to) == report.extras, "III.3 seed \(seed)")
                    periodIndexChecks += 1
                }
                // Behind every number: the listed activities (or organisations) are the counted ones.
                let behind = ledger.drillDown(definition, query, asOf: Self.asOf)
                switch definition.measure {
                case .activities:
                    // "sorted by startedOn then position"
                    let sorted = reference.sorted { ($0.0.startedOn, $0.1) < ($1.0.startedOn, $1.1) }
                    #expect(behind?.activities?.map(\.activityId) == sorted.map(\.0.activityId))
                case .people:
                    #expect(behind?.activities?.count == reference.count)
                case .organisations:
                    #expect(behind?.organisations?.count == Int(report.value ?? -1))
                    #expect(
                        behind?.organisations.map { $0.map(\.organisationId) == $0.map(\.organisationId).sorted() }
                            == true)
                default:
                    #expect(behind == nil)
                }
                if (report.value ?? 0) > 0 { counted += 1 }
                switch definition.code {
                case "I.4":
                    let sum = reference.reduce(Int64(0)) { total, entry in
                        let people = entry.0.peopleSupported
                        return total
                            + [people?.hrd, people?.activist, people?.journalist].reduce(Int64(0)) {
                                $0 + ($1.map { $0.women + $0.men + $0.undisclosed } ?? 0)
                            }
                    }
                    #expect(report.value == sum, "\(definition.code) seed \(seed)")
                    #expect(report.cells?.count == 9)
                    #expect(report.byGroup?.values.reduce(0, +) == sum && report.byGender?.values.reduce(0, +) == sum)
                case "III.3":
                    let womenLed = ReferenceFramework.womenLed(log, query)
                    #expect(report.value == Int64(womenLed.count), "III.3 seed \(seed)")
                    for region in Region.codes {
                        #expect(
                            report.byRegion?[region] == Int64(womenLed.values.filter { $0.regionCode == region }.count))
                    }
                    #expect(
                        report.bySettlement?["rural"] == Int64(womenLed.values.filter { $0.settlement == .rural }.count)
                    )
                case "I.5":
                    #expect(report.value == nil)
                    #expect(report.indices?.count == 3)
                default:
                    #expect(report.value == Int64(reference.count), "\(definition.code) seed \(seed)")
                    #expect(report.byOrganiser?.values.reduce(0, +) == Int64(reference.count))
                    #expect(report.byRegion?.count == 21)
                    #expect(
                        report.byRegion?["national"] == Int64(reference.filter { $0.0.regionCode == nil }.count))
                    for theme in definition.byTheme {
                        #expect(
                            report.byTheme?[theme.rawValue]
                                == Int64(reference.filter { $0.0.themes.contains(theme) }.count))
                    }
                    if definition.byGenderFocus {
                        #expect(
                            report.byGenderFocus?["gender"]
                                == Int64(reference.filter { $0.0.themes.contains(.gender) }.count))
                    }
                }
            }
        }
        #expect(counted >= 10, "only \(counted) reports counted anything")
        #expect(periodIndexChecks >= 12)
    }

    @Test("I.5: baseline before the year of from, latest up to the year of to, the change to 2 decimals")
    func indices() async throws {
        var history = try await baseHistory()
        for (year, value) in [(2022, "30"), (2023, "37.5"), (2024, "40.25"), (2023, "38")] {
            try await history.execute(
                try CommandRequest.parse(
                    command(
                        "recordIndexValue",
                        [
                            "indexId": "civicusMonitor", "year": year, "value": value, "rating": "Repressed",
                            "source": "s",
                        ])
                ).command)
        }
        var ledger = ActivityLedger()
        for (index, event) in history.log.enumerated() { ledger.apply(event, at: Int64(index + 1)) }
        let i5 = try #require(ResultsFramework.indicator("I.5"))
        let report = ledger.report(
            i5, IndicatorQuery(from: BusinessDate("2024-01-01")!, to: BusinessDate("2024-12-31")!), asOf: Self.asOf)
        let civicus = try #require(report.indices?["civicusMonitor"])
        #expect(civicus.baseline?.year == 2023 && civicus.baseline?.value == "38")  // the revision is in force
        #expect(civicus.latest?.year == 2024 && civicus.latest?.value == "40.25")
        #expect(civicus.change == "2.25")
        #expect(report.indices?["freedomInTheWorld"]?.baseline == nil)
        #expect(report.indices?["freedomInTheWorld"]?.change == nil)
    }
}
