import EventStore
import Foundation
import GrantDomain
import PersonalDataKeys
import PostgresClient

/// Writes a realistic programme of about `target` events straight into the log (as the
/// owner role, with real hashes), far faster than going through commands: 10% organisation
/// registrations, profile updates, calls, consortia, applications, grants, and mostly
/// sub-grants and their payments; then `activities` activities of every kind (docs/domain.md
/// §12) over 2024-2025, one in 50 retracted, and the three indices with a revision.
func loadRealisticLog(target: Int, organisations: Int, activities: Int = 0, owner: PostgresConnection) async throws
    -> Int
{
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
    // Organisations' texts encrypted with a key of each, as the command handler records them
    // (docs/domain.md §15), so that every reading row pays for opening them.
    var keys: [String: PersonalDataKey] = [:]
    var subGrantOrganisations: [String: String] = [:]
    func add(_ event: DomainEvent) throws {
        let stream = event.streamID
        let version = (versions[stream] ?? 0) + 1
        versions[stream] = version
        let subject: String?
        switch event {
        case .organisationRegistered(let e): subject = e.organisationId
        case .organisationProfileUpdated(let e): subject = e.name == nil ? nil : e.organisationId
        case .subGrantAwarded(let e):
            subGrantOrganisations[e.subGrantId] = e.organisationId
            subject = e.organisationId
        case .subGrantCancelled(let e): subject = subGrantOrganisations[e.subGrantId]
        default: subject = nil
        }
        var data = event.dataJSON
        if let subject {
            let key = keys[subject] ?? .random(for: subject)
            keys[subject] = key
            data = try PersonalDataCipher.seal(type: event.type, data: data, with: key)
        }
        // COPY text format: tab-separated; JSON from the encoder has no raw tabs or newlines.
        lines.append("\(stream)\t\(version)\t\(event.type)\t\(data.replacingOccurrences(of: "\\", with: "\\\\"))")
    }
    let genders = LeadershipGender.allCases.map(\.rawValue)
    func cents(_ value: Int64) -> String { Money(cents: Int128(value)).description }
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
    let kinds = ActivityKind.allCases
    let themes = Theme.allCases.map(\.rawValue)
    for index in 0..<activities {
        let kind = kinds[index % kinds.count]
        let grantee = index % 3 != 0 || kind == .protectionSupport
        var fields: [String: Any] = [
            "activityId": "ACT\(index)", "title": "Activity \(index)",
            "startedOn":
                "202\(4 + index % 2)-\(String(format: "%02d", 1 + index % 12))-\(String(format: "%02d", 1 + index % 28))",
            "kind": kind.rawValue, "organiser": grantee ? "grantee" : "eu", "withGovernment": index % 2 == 0,
            "themes": [themes[index % themes.count], themes[(index / 7) % themes.count]].uniqued(),
            "participants": (0..<(index % 4)).map { "O\((index * 7 + $0 * 13) % organisations)" }.uniqued(),
        ]
        if grantee { fields["grantId"] = "G\(index % grants)" }
        if index % 5 != 0 { fields["regionCode"] = Region.codes[index % Region.codes.count] }
        if kind == .protectionSupport {
            let counts = ["women": index % 3, "men": index % 2, "undisclosed": 0]
            fields["peopleSupported"] = ["hrd": counts, "activist": counts, "journalist": counts]
        }
        try add(event("ActivityRecorded", fields))
        if index % 50 == 0 {
            try add(
                event(
                    "ActivityRetracted",
                    ["activityId": "ACT\(index)", "retractedOn": "2026-01-15", "reason": "duplicate"]))
        }
    }
    if activities > 0 {
        for index in IndexId.allCases {
            for year in 2023...2025 {
                try add(
                    event(
                        "IndexValueRecorded",
                        ["indexId": index.rawValue, "year": year, "value": "\(30 + year - 2023)", "source": "bench"]))
            }
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
    let allKeys = Array(keys.values)
    for start in stride(from: 0, to: allKeys.count, by: 10_000) {
        let chunk = allKeys[start..<min(start + 10_000, allKeys.count)]
        try await owner.query(
            """
            INSERT INTO personal_data_keys (key_id, organisation_id, key)
            SELECT k, o, decode(h, 'hex') FROM unnest(\(textArray(chunk.map(\.id)))::uuid[],
                \(textArray(chunk.map(\.organisationId)))::text[], \(textArray(chunk.map { $0.bytes.hexString }))::text[])
                AS t(k, o, h)
            """)
    }
    try await owner.query("VACUUM ANALYZE events")
    return all.count
}

extension Array where Element: Hashable {
    /// The elements without repeats, in first-seen order.
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}

struct BenchmarkError: Error, CustomStringConvertible {
    var description: String
}
