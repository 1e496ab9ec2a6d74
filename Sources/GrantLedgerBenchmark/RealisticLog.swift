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
    /// An event built from its JSON fields through the domain's own decoder.
    func event(_ type: String, _ fields: [String: Any]) throws -> DomainEvent {
        let data = try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
        guard let event = try DomainEvent.decode(type: type, data: String(decoding: data, as: UTF8.self)) else {
            throw BenchmarkError(description: "unknown event type \(type)")
        }
        return event
    }
    func add(_ event: DomainEvent) {
        let stream = event.streamID
        let version = (versions[stream] ?? 0) + 1
        versions[stream] = version
        // COPY text format: tab-separated; JSON from the encoder has no raw tabs or newlines.
        lines.append(
            "\(stream)\t\(version)\t\(event.type)\t\(event.dataJSON.replacingOccurrences(of: "\\", with: "\\\\"))")
    }
    let genders = LeadershipGender.allCases.map(\.rawValue)
    func cents(_ value: Int64) -> String { Money(cents: value).description }
    for index in 0..<organisations {
        let registered = index % 3 == 0
        var fields: [String: Any] = [
            "organisationId": "O\(index)", "name": "Organisation \(index)", "country": index % 20 == 0 ? "UZ" : "KZ",
            "registrationStatus": registered ? "registered" : "unregistered", "leadershipGender": genders[index % 4],
            "kind": "ngo",
        ]
        if index % 20 != 0 {
            fields["regionCode"] = Region.codes[index % 20]
            fields["settlement"] = index % 2 == 0 ? "rural" : "urban"
        }
        if registered {
            fields["bin"] = "950440001673"
            fields["annualBudgetEur"] = cents(Int64.random(in: 1_000_000...30_000_000, using: &rng))
            fields["staffCount"] = Int.random(in: 1...30, using: &rng)
        }
        try add(event("OrganisationRegistered", fields))
    }
    for index in 0..<(organisations / 5) {
        try add(
            event(
                "OrganisationProfileUpdated",
                [
                    "organisationId": "O\(Int.random(in: 0..<organisations, using: &rng))",
                    "leadershipGender": genders[index % 4],
                ]))
    }
    let calls = 10
    for index in 0..<calls {
        try add(
            event(
                "CallPublished",
                [
                    "callId": "C\(index)", "reference": "EuropeAid/\(index)", "title": "Call \(index)",
                    "programme": index % 2 == 0 ? "CSO-LA" : "EIDHR", "publishedOn": "2024-01-01",
                    "deadline": "2024-12-31", "budget": cents(100_000_000_000), "minGrant": cents(1),
                    "maxGrant": cents(100_000_000_000), "subGrantingAllowed": true, "maxSubGrant": cents(6_000_000),
                ]))
    }
    let grants = 1000
    for index in 0..<grants {
        let members = (0..<4).map { offset in
            [
                "organisationId": "O\((index * 4 + offset) % organisations)",
                "role": offset == 0 ? "lead" : (offset == 3 ? "associate" : "coApplicant"),
            ]
        }
        try add(event("ConsortiumFormed", ["consortiumId": "K\(index)", "name": "K\(index)", "members": members]))
        try add(
            event(
                "ApplicationSubmitted",
                [
                    "applicationId": "A\(index)", "callId": "C\(index % calls)", "consortiumId": "K\(index)",
                    "submittedOn": "2024-03-01", "requestedAmount": cents(500_000_000),
                ]))
        try add(
            event("ApplicationEvaluated", ["applicationId": "A\(index)", "score": 80, "evaluatedOn": "2024-04-01"]))
        try add(
            event(
                "GrantAwarded",
                [
                    "grantId": "G\(index)", "applicationId": "A\(index)", "contractNumber": "CN\(index)",
                    "awardedOn": "2024-0\(1 + index % 9)-15", "amount": cents(500_000_000), "startDate": "2024-01-01",
                    "endDate": "2027-12-31", "subGrantingEnvelope": cents(400_000_000), "callId": "C\(index % calls)",
                    "consortiumId": "K\(index)", "members": members,
                ]))
        try add(
            event(
                "GrantTrancheDisbursed", ["grantId": "G\(index)", "amount": cents(10_000_000), "paidOn": "2024-10-01"]))
    }
    var subGrant = 0
    while lines.count < target {
        subGrant += 1
        let grant = subGrant % grants
        let date = "202\(4 + subGrant % 2)-\(String(format: "%02d", 1 + subGrant % 12))-10"
        try add(
            event(
                "SubGrantAwarded",
                [
                    "subGrantId": "S\(subGrant)", "grantId": "G\(grant)",
                    "organisationId": "O\(Int.random(in: 0..<organisations, using: &rng))", "awardedOn": date,
                    "amount": cents(1_000_000), "purpose": "Local activities", "callId": "C\(grant % calls)",
                ]))
        if subGrant % 40 == 0 {
            try add(
                event("SubGrantCancelled", ["subGrantId": "S\(subGrant)", "cancelledOn": date, "reason": "dissolved"]))
        } else {
            try add(
                event("SubGrantDisbursed", ["subGrantId": "S\(subGrant)", "amount": cents(500_000), "paidOn": date]))
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

struct BenchmarkError: Error, CustomStringConvertible {
    var description: String
}
