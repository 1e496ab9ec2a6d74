import Foundation
import GrantDomain
import Testing

/// A small programme built step by step, with I.3 computed over its log.
struct Scenario {
    var history = InMemoryHistory()

    mutating func run(_ name: String, _ fields: [String: Any]) async throws {
        try await history.execute(try CommandRequest.parse(command(name, fields)).command)
    }

    mutating func org(
        _ id: String, country: String = "KZ", status: String = "unregistered", budget: String? = nil,
        staff: Int? = nil, gender: String = "women", region: String = "KZ-61"
    ) async throws {
        var fields: [String: Any] = [
            "organisationId": id, "name": id, "country": country, "registrationStatus": status,
            "leadershipGender": gender, "kind": status == "registered" ? "ngo" : "informalGroup",
        ]
        if country == "KZ" {
            fields["regionCode"] = region
            fields["settlement"] = "rural"
            if status == "registered" { fields["bin"] = "950440001673" }
        }
        if let budget { fields["annualBudgetEur"] = budget }
        if let staff { fields["staffCount"] = staff }
        try await run("registerOrganisation", fields)
    }

    mutating func call(_ id: String, programme: String = "CSO-LA") async throws {
        try await run(
            "publishCall",
            [
                "callId": id, "reference": "R-\(id)", "title": "T", "programme": programme, "publishedOn": "2024-01-01",
                "deadline": "2024-12-31", "budget": "10000000", "minGrant": "1000", "maxGrant": "1000000",
                "subGrantingAllowed": true, "maxSubGrant": "60000",
            ])
    }

    /// Consortium K-<grant> with `members`, applied to `call` and awarded as grant `grant`.
    mutating func grant(_ grant: String, call: String, awardedOn: String, members: [(String, String)]) async throws {
        try await run(
            "formConsortium",
            [
                "consortiumId": "K-\(grant)", "name": "K",
                "members": members.map { ["organisationId": $0.0, "role": $0.1] },
            ])
        try await run(
            "submitApplication",
            [
                "applicationId": "A-\(grant)", "callId": call, "consortiumId": "K-\(grant)",
                "submittedOn": "2024-02-01",
                "requestedAmount": "500000",
            ])
        try await run(
            "awardGrant",
            [
                "grantId": grant, "applicationId": "A-\(grant)", "contractNumber": "CN-\(grant)",
                "awardedOn": awardedOn,
                "amount": "500000", "startDate": "2024-01-01", "endDate": "2027-12-31", "subGrantingEnvelope": "300000",
            ])
    }

    mutating func subGrant(_ id: String, grant: String, org: String, on date: String) async throws {
        try await run(
            "awardSubGrant",
            [
                "subGrantId": id, "grantId": grant, "organisationId": org, "awardedOn": date, "amount": "10000",
                "purpose": "p",
            ])
    }

    var position: Int64 { Int64(history.log.count) }

    func i3(
        from: String = "2024-01-01", to: String = "2026-12-31", cutoff: Int64? = nil, programme: String? = nil,
        callId: String? = nil
    ) -> I3Figures {
        let log = history.log.enumerated().map { (position: Int64($0.offset + 1), event: $0.element) }
        return I3Reference.compute(
            log, query: I3Query(from: BusinessDate(from)!, to: BusinessDate(to)!, programme: programme, callId: callId),
            cutoff: cutoff ?? position)
    }
}

@Suite("Indicator I.3, clause by clause (docs/domain.md §4)")
struct I3ClauseTests {
    /// LEAD (registered, big), S1 and S2 unregistered, C1 with grant G1 awarded 2025-03-01.
    func base() async throws -> Scenario {
        var s = Scenario()
        try await s.org("LEAD", status: "registered", budget: "900000", staff: 40)
        try await s.org("S1")
        try await s.org("S2", gender: "men", region: "KZ-10")
        try await s.org("ASSOC")
        try await s.call("C1")
        try await s.grant(
            "G1", call: "C1", awardedOn: "2025-03-01",
            members: [("LEAD", "lead"), ("S1", "coApplicant"), ("ASSOC", "associate")])
        return s
    }

    @Test("1. consortium members access at the award, associates do not, the big lead is not small")
    func consortiumChannel() async throws {
        let figures = try await base().i3()
        #expect(figures.total == 1)
        #expect(figures.byChannel[.consortium] == 1)
        #expect(figures.cells.first?.regionCode == "KZ-61")
    }

    @Test("1. a sub-grant is an access on its awardedOn; a cancellation at or before the cut-off erases it")
    func subGrantChannel() async throws {
        var s = try await base()
        try await s.subGrant("SG1", grant: "G1", org: "S2", on: "2025-04-01")
        let awarded = s.position
        try await s.run("cancelSubGrant", ["subGrantId": "SG1", "cancelledOn": "2025-05-01", "reason": "r"])
        let cancelled = s.position
        #expect(s.i3(cutoff: awarded).byChannel[.subGrant] == 1)
        #expect(s.i3(cutoff: awarded).total == 2)
        #expect(s.i3(cutoff: cancelled).byChannel[.subGrant] == 0)
        #expect(s.i3(cutoff: cancelled).total == 1)
    }

    @Test("2. the snapshot is the profile at the access, not later")
    func snapshotProfile() async throws {
        var s = try await base()
        try await s.subGrant("SG1", grant: "G1", org: "S2", on: "2025-04-01")
        try await s.run(
            "updateOrganisationProfile", ["organisationId": "S2", "leadershipGender": "women", "regionCode": "KZ-79"])
        let figures = s.i3()
        #expect(figures.byLeadershipGender[.men] == 1)
        #expect(figures.byRegion["KZ-10"] == 1)
        #expect(figures.byRegion["KZ-79"] == 0)
    }

    @Test("2. small: budget and staff against the rules in force at the access")
    func smallness() async throws {
        var s = try await base()
        try await s.org("R-SMALL", status: "registered", budget: "100000", staff: 10)
        try await s.org("R-NOSTAFF", status: "registered", budget: "50000")
        try await s.org("R-BIGSTAFF", status: "registered", budget: "50000", staff: 11)
        try await s.org("R-NOBUDGET", status: "registered")
        try await s.org("R-LATER", status: "registered", budget: "50000", staff: 12)
        for (index, org) in ["R-SMALL", "R-NOSTAFF", "R-BIGSTAFF", "R-NOBUDGET"].enumerated() {
            try await s.subGrant("SG\(index)", grant: "G1", org: org, on: "2025-04-01")
        }
        // Rules relaxed after the accesses above: only the later access benefits.
        try await s.run("setReportingRules", ["smallMaxAnnualBudgetEur": "100000", "smallMaxStaff": 15])
        try await s.subGrant("SG9", grant: "G1", org: "R-LATER", on: "2025-04-01")
        try await s.subGrant("SG8", grant: "G1", org: "R-BIGSTAFF", on: "2025-04-02")
        let figures = s.i3()
        // S1 (consortium), R-SMALL, R-NOSTAFF, R-LATER, and R-BIGSTAFF through its second access.
        #expect(figures.total == 5)
        #expect(figures.rules.smallMaxStaff == 15)
        #expect(figures.byRegistrationStatus[.registered] == 4)
    }

    @Test("3. only accesses in the period, in KZ, and matching the filters qualify")
    func qualifying() async throws {
        var s = try await base()
        try await s.org("FOREIGN", country: "UZ")
        try await s.call("C2", programme: "EIDHR")
        try await s.grant(
            "G2", call: "C2", awardedOn: "2025-06-01", members: [("LEAD", "lead"), ("S2", "coApplicant")])
        try await s.subGrant("SG1", grant: "G1", org: "FOREIGN", on: "2025-04-01")
        #expect(s.i3().total == 2)
        #expect(s.i3(programme: "EIDHR").total == 1)
        #expect(s.i3(callId: "C1").total == 1)
        #expect(s.i3(from: "2025-05-01").total == 1)
        #expect(s.i3(to: "2025-02-28").total == 0)
    }

    @Test("4. an organisation counts once, described by its first qualifying access (earliest date, then position)")
    func firstAccess() async throws {
        var s = try await base()
        // S1 got access through G1 on 2025-03-01 as women-led in KZ-61. Later it changes,
        // and a backdated sub-grant gives it an earlier business date with the new profile.
        try await s.run("updateOrganisationProfile", ["organisationId": "S1", "leadershipGender": "mixed"])
        try await s.subGrant("SG1", grant: "G1", org: "S1", on: "2025-01-15")
        let figures = s.i3()
        #expect(figures.total == 1)
        #expect(figures.byLeadershipGender[.mixed] == 1)
        #expect(figures.byChannel[.consortium] == 1)
        #expect(figures.byChannel[.subGrant] == 1)
        // Outside the sub-grant's date, the consortium access describes it.
        #expect(s.i3(from: "2025-02-01").byLeadershipGender[.women] == 1)
    }

    @Test("5. marginals add up to the total and every region is listed")
    func marginals() async throws {
        var s = try await base()
        try await s.subGrant("SG1", grant: "G1", org: "S2", on: "2025-04-01")
        let f = s.i3()
        #expect(f.byRegion.count == 20)
        #expect(f.byRegion.values.reduce(0, +) == f.total)
        #expect(f.bySettlement.values.reduce(0, +) == f.total)
        #expect(f.byLeadershipGender.values.reduce(0, +) == f.total)
        #expect(f.byRegistrationStatus.values.reduce(0, +) == f.total)
        #expect(f.cells.map(\.count).reduce(0, +) == f.total)
        #expect(f.cells.map(\.regionCode) == f.cells.map(\.regionCode).sorted())
    }
}
