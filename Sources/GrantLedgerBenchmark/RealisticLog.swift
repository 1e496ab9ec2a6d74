import EventStore
import Foundation
import GrantDomain
import PostgresClient

/// Writes a realistic programme of about `target` events straight into the log (as the
/// owner role, with real hashes), far faster than going through commands: 10% organisation
/// registrations, profile updates, calls, consortia, applications, grants, and mostly
/// sub-grants and their payments.
func loadRealisticLog(target: Int, organisations: Int, owner: PostgresConnection) async throws -> Int {
    var rng = SystemRandomNumberGenerator()
    var lines: [String] = []
    lines.reserveCapacity(target)
    var versions: [String: Int] = [:]
    func add(_ event: DomainEvent) {
        let stream = event.streamID
        let version = (versions[stream] ?? 0) + 1
        versions[stream] = version
        // COPY text format: tab-separated; JSON from the encoder has no raw tabs or newlines.
        lines.append(
            "\(stream)\t\(version)\t\(event.type)\t\(event.dataJSON.replacingOccurrences(of: "\\", with: "\\\\"))")
    }
    let genders = LeadershipGender.allCases
    for index in 0..<organisations {
        let registered = index % 3 == 0
        add(
            .organisationRegistered(
                RegisterOrganisation(
                    organisationId: "O\(index)", name: "Organisation \(index)", country: index % 20 == 0 ? "UZ" : "KZ",
                    regionCode: index % 20 == 0 ? nil : Region.codes[index % 20],
                    settlement: index % 20 == 0 ? nil : (index % 2 == 0 ? .rural : .urban),
                    registrationStatus: registered ? .registered : .unregistered,
                    bin: registered ? "950440001673" : nil,
                    leadershipGender: genders[index % 4], kind: .ngo,
                    annualBudgetEur: registered
                        ? Money(cents: Int64.random(in: 1_000_000...30_000_000, using: &rng)) : nil,
                    staffCount: registered ? Int64.random(in: 1...30, using: &rng) : nil)))
    }
    for index in 0..<(organisations / 5) {
        add(
            .organisationProfileUpdated(
                UpdateOrganisationProfile(
                    organisationId: "O\(Int.random(in: 0..<organisations, using: &rng))", name: nil, regionCode: nil,
                    settlement: nil,
                    registrationStatus: nil, bin: nil, leadershipGender: genders[index % 4], kind: nil,
                    annualBudgetEur: nil, staffCount: nil)))
    }
    let calls = 10
    for index in 0..<calls {
        add(
            .callPublished(
                PublishCall(
                    callId: "C\(index)", reference: "EuropeAid/\(index)", title: "Call \(index)",
                    programme: index % 2 == 0 ? "CSO-LA" : "EIDHR",
                    publishedOn: BusinessDate("2024-01-01")!, deadline: BusinessDate("2024-12-31")!,
                    budget: Money(cents: 100_000_000_000), minGrant: Money(cents: 1),
                    maxGrant: Money(cents: 100_000_000_000),
                    subGrantingAllowed: true, maxSubGrant: Money(cents: 6_000_000))))
    }
    let grants = 1000
    for index in 0..<grants {
        let members = (0..<4).map { offset in
            Member(
                organisationId: "O\((index * 4 + offset) % organisations)",
                role: offset == 0 ? .lead : (offset == 3 ? .associate : .coApplicant))
        }
        add(.consortiumFormed(FormConsortium(consortiumId: "K\(index)", name: "K\(index)", members: members)))
        add(
            .applicationSubmitted(
                SubmitApplication(
                    applicationId: "A\(index)", callId: "C\(index % calls)", consortiumId: "K\(index)",
                    submittedOn: BusinessDate("2024-03-01")!, requestedAmount: Money(cents: 500_000_000))))
        add(
            .applicationEvaluated(
                EvaluateApplication(applicationId: "A\(index)", score: 80, evaluatedOn: BusinessDate("2024-04-01")!)))
        add(
            .grantAwarded(
                GrantAwarded(
                    grantId: "G\(index)", applicationId: "A\(index)", contractNumber: "CN\(index)",
                    awardedOn: BusinessDate("2024-0\(1 + index % 9)-15")!, amount: Money(cents: 500_000_000),
                    startDate: BusinessDate("2024-01-01")!, endDate: BusinessDate("2027-12-31")!,
                    subGrantingEnvelope: Money(cents: 400_000_000), callId: "C\(index % calls)",
                    consortiumId: "K\(index)",
                    members: members)))
        add(
            .grantTrancheDisbursed(
                DisburseGrant(
                    grantId: "G\(index)", amount: Money(cents: 10_000_000), paidOn: BusinessDate("2024-10-01")!)))
    }
    var subGrant = 0
    while lines.count < target {
        subGrant += 1
        let grant = subGrant % grants
        let date = BusinessDate("202\(4 + subGrant % 2)-\(String(format: "%02d", 1 + subGrant % 12))-10")!
        add(
            .subGrantAwarded(
                SubGrantAwarded(
                    subGrantId: "S\(subGrant)", grantId: "G\(grant)",
                    organisationId: "O\(Int.random(in: 0..<organisations, using: &rng))",
                    awardedOn: date, amount: Money(cents: 1_000_000), purpose: "Local activities",
                    callId: "C\(grant % calls)")))
        if subGrant % 40 == 0 {
            add(.subGrantCancelled(CancelSubGrant(subGrantId: "S\(subGrant)", cancelledOn: date, reason: "dissolved")))
        } else {
            add(
                .subGrantDisbursed(
                    DisburseSubGrant(subGrantId: "S\(subGrant)", amount: Money(cents: 500_000), paidOn: date)))
        }
    }
    try await owner.executeScript(
        unsafeSQL: """
            SET client_min_messages = warning;
            DROP TABLE IF EXISTS bench_staging;
            CREATE UNLOGGED TABLE bench_staging (n bigserial, stream_id text, stream_version bigint, type text, data jsonb);
            """)
    var index = 0
    let all = lines
    try await owner.copyIn("COPY bench_staging (stream_id, stream_version, type, data) FROM STDIN") {
        guard index < all.count else { return nil }
        let end = min(index + 10_000, all.count)
        let chunk = all[index..<end].joined(separator: "\n") + "\n"
        index = end
        return Array(chunk.utf8)
    }
    try await owner.query(
        """
        INSERT INTO events (position, stream_id, stream_version, event_id, type, data, metadata, recorded_at, transaction_id, hash)
        SELECT p, stream_id, stream_version, id, type, data, '{"actor": "bench"}', now, pg_current_xact_id(),
               sha256(convert_to(event_canonical(p, stream_id, stream_version, id, type, data, '{"actor": "bench"}', now), 'UTF8'))
        FROM (SELECT nextval('events_position_seq') AS p, s.*, gen_random_uuid() AS id, clock_timestamp() AS now
              FROM bench_staging s ORDER BY n) staged
        """)
    try await owner.query("DROP TABLE bench_staging")
    try await owner.query("VACUUM ANALYZE events")
    return all.count
}
