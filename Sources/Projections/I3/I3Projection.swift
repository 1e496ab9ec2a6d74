import Foundation
import GrantDomain
import PostgresClient

/// The read model behind indicator I.3: every access to EU funding with the snapshot of
/// its organisation and rules taken at that point of the log (docs/domain.md §4 steps 1-2).
///
/// Snapshots depend only on earlier events, so a row never changes once written, except
/// that a later cancellation of a sub-grant is marked with its position. A report for any
/// cut-off P reads the rows at or before P whose cancellation (if any) is after P: the same
/// table answers the head and every past point, a bitemporal read model.
public struct I3Projection: Projection {
    public let name = "i3"

    public init() {}

    /// One access: its facts (channel, date, position, call, grant, sub-grant), the call's
    /// programme, and the snapshot of the organisation there.
    struct AccessRow {
        var organisationId: String
        var access: I3FirstAccess
        var programme: String
        var cancelledPosition: Int64?
        var profile: OrganisationProfile
        var small: Bool
    }

    /// What a batch (or, in a rebuild, the whole log) changes, kept in memory until written.
    struct Working {
        var profiles: [String: OrganisationProfile] = [:]
        var programmes: [String: String] = [:]
        var rules = ReportingRules.initial
        var changedProfiles = Set<String>()
        var newRules: [(Int64, ReportingRules)] = []
        var newCalls: [(String, String)] = []
        var accesses: [AccessRow] = []
        var accessBySubGrant: [String: Int] = [:]
        /// Cancellations of sub-grants whose access row was written by an earlier batch.
        var cancellations: [(subGrantId: String, position: Int64)] = []
        var signOffs: [SignOffRecord] = []
        var targets: [TargetRecord] = []
        /// Organisations whose texts were erased: their names in earlier batches' rows go too.
        var erasures: [String] = []

        mutating func evolve(_ projected: ProjectedEvent) {
            let position = projected.position
            switch projected.event {
            case .organisationRegistered(let e):
                profiles[e.organisationId] = e
                changedProfiles.insert(e.organisationId)
            case .organisationProfileUpdated(let e):
                profiles[e.organisationId] = profiles[e.organisationId]?.applying(e)
                changedProfiles.insert(e.organisationId)
            case .personalDataErased(let e):
                profiles[e.organisationId]?.name = PersonalData.erased
                changedProfiles.insert(e.organisationId)
                for index in accesses.indices where accesses[index].organisationId == e.organisationId {
                    accesses[index].profile.name = PersonalData.erased
                }
                erasures.append(e.organisationId)
            case .reportingRulesSet(let e):
                rules = e
                newRules.append((position, e))
            case .callPublished(let e):
                programmes[e.callId] = e.programme
                newCalls.append((e.callId, e.programme))
            case .grantAwarded(let e):
                for member in e.members where member.role != .associate {
                    guard let profile = profiles[member.organisationId] else { continue }
                    accesses.append(
                        AccessRow(
                            organisationId: member.organisationId,
                            access: I3FirstAccess(
                                channel: .consortium, businessDate: e.awardedOn, position: position, callId: e.callId,
                                grantId: e.grantId, subGrantId: nil),
                            programme: programmes[e.callId] ?? "", cancelledPosition: nil, profile: profile,
                            small: profile.isSmall(under: rules)))
                }
            case .subGrantAwarded(let e):
                guard let profile = profiles[e.organisationId] else { return }
                accessBySubGrant[e.subGrantId] = accesses.count
                accesses.append(
                    AccessRow(
                        organisationId: e.organisationId,
                        access: I3FirstAccess(
                            channel: .subGrant, businessDate: e.awardedOn, position: position, callId: e.callId,
                            grantId: e.grantId, subGrantId: e.subGrantId),
                        programme: programmes[e.callId] ?? "", cancelledPosition: nil, profile: profile,
                        small: profile.isSmall(under: rules)))
            case .indicatorReportSignedOff(let e):
                signOffs.append(SignOffRecord(e, RecordedField(recorded: projected.recorded)))
            case .indicatorTargetSet(let e):
                targets.append(TargetRecord(e, RecordedField(recorded: projected.recorded)))
            case .subGrantCancelled(let e):
                if let index = accessBySubGrant[e.subGrantId] {
                    accesses[index].cancelledPosition = position
                } else {
                    cancellations.append((e.subGrantId, position))
                }
            default:
                break
            }
        }
    }

    public func apply(_ batch: [ProjectedEvent], schema: String, on connection: PostgresConnection) async throws {
        // What this batch needs to know from before it.
        var organisationIds = Set<String>()
        var callIds = Set<String>()
        for projected in batch {
            switch projected.event {
            case .organisationRegistered(let e): organisationIds.insert(e.organisationId)
            case .organisationProfileUpdated(let e): organisationIds.insert(e.organisationId)
            case .personalDataErased(let e): organisationIds.insert(e.organisationId)
            case .grantAwarded(let e):
                organisationIds.formUnion(e.members.map(\.organisationId))
                callIds.insert(e.callId)
            case .subGrantAwarded(let e):
                organisationIds.insert(e.organisationId)
                callIds.insert(e.callId)
            default: break
            }
        }
        var working = Working()
        let decoder = JSONDecoder()
        if !organisationIds.isEmpty {
            let rows = try await connection.query(
                PostgresQuery(
                    unsafeSQL:
                        "SELECT organisation_id, doc FROM \(schema).profiles WHERE organisation_id = ANY($1::text[])",
                    bindings: [textArray(organisationIds.sorted())]))
            for row in rows {
                working.profiles[try row.decode(String.self, 0)] = try decoder.decode(
                    OrganisationProfile.self, from: Data(try row.decode(String.self, 1).utf8))
            }
        }
        if !callIds.isEmpty {
            let rows = try await connection.query(
                PostgresQuery(
                    unsafeSQL: "SELECT call_id, programme FROM \(schema).calls WHERE call_id = ANY($1::text[])",
                    bindings: [textArray(callIds.sorted())]))
            for row in rows {
                let (callId, programme) = try row.decode((String, String).self)
                working.programmes[callId] = programme
            }
        }
        let ruleRows = try await connection.query(
            PostgresQuery(
                unsafeSQL: """
                    SELECT small_max_annual_budget_cents, small_max_staff FROM \(schema).rules
                    ORDER BY position DESC LIMIT 1
                    """))
        if let row = ruleRows.first {
            working.rules = ReportingRules(
                smallMaxAnnualBudgetEur: Money(cents: Int128(try row.decode(Int64.self, 0))),
                smallMaxStaff: try row.decode(Int64.self, 1))
        }
        for projected in batch { working.evolve(projected) }
        try await write(working, schema: schema, on: connection)
    }

    public func makeBulkBuilder() -> any BulkProjectionBuilder { Bulk(projection: self) }

    /// The whole log in one working set, written once.
    final class Bulk: BulkProjectionBuilder {
        let projection: I3Projection
        var working = Working()

        init(projection: I3Projection) { self.projection = projection }

        func add(_ batch: [ProjectedEvent]) {
            for projected in batch { working.evolve(projected) }
        }

        func writer() -> BulkWrite {
            let (projection, working) = (self.projection, self.working)
            return { schema, connection in
                try await projection.write(working, schema: schema, on: connection, fresh: true)
            }
        }
    }

    /// An access row's columns as text, in the order of the `accesses` table.
    static func columns(of row: AccessRow) -> [String?] {
        [
            String(row.access.position), row.organisationId, row.access.channel.rawValue,
            row.access.businessDate.description, row.access.callId, row.programme, row.access.subGrantId,
            row.cancelledPosition.map(String.init), row.profile.country, row.small ? "t" : "f",
            row.profile.leadershipGender.rawValue, row.profile.regionCode, row.profile.settlement?.rawValue,
            row.profile.registrationStatus.rawValue, row.profile.name, row.access.grantId,
        ]
    }

    /// Writes a batch's working set; `fresh`: into empty tables (a rebuild), where the
    /// profiles and accesses go in by COPY.
    func write(_ working: Working, schema: String, on connection: PostgresConnection, fresh: Bool = false)
        async throws
    {
        let ids = working.changedProfiles.sorted()
        for chunk in stride(from: 0, to: ids.count, by: 10_000).map({ ids[$0..<min($0 + 10_000, ids.count)] }) {
            let docs = try chunk.map { try CanonicalJSON.text(working.profiles[$0]) }
            if fresh {
                var rows = CopyTextRows()
                for (id, doc) in zip(chunk, docs) { rows.append([id, doc]) }
                try await connection.copy(rows, into: "\(schema).profiles (organisation_id, doc)")
                continue
            }
            try await connection.query(
                PostgresQuery(
                    unsafeSQL: """
                        INSERT INTO \(schema).profiles (organisation_id, doc)
                        SELECT i, d::jsonb FROM unnest($1::text[], $2::text[]) AS t(i, d)
                        ON CONFLICT (organisation_id) DO UPDATE SET doc = excluded.doc
                        """, bindings: [textArray(Array(chunk)), textArray(docs)]))
        }
        for (position, value) in working.newRules {
            try await connection.query(
                PostgresQuery(
                    unsafeSQL: "INSERT INTO \(schema).rules VALUES ($1, $2, $3)",
                    bindings: [
                        String(position), String(value.smallMaxAnnualBudgetEur.cents), String(value.smallMaxStaff),
                    ]))
        }
        for (callId, programme) in working.newCalls {
            try await connection.query(
                PostgresQuery(
                    unsafeSQL: "INSERT INTO \(schema).calls VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    bindings: [callId, programme]))
        }
        let all = working.accesses
        for start in stride(from: 0, to: all.count, by: 10_000) {
            let accesses = all[start..<min(start + 10_000, all.count)]
            if fresh {
                var rows = CopyTextRows()
                for row in accesses { rows.append(Self.columns(of: row)) }
                try await connection.copy(rows, into: "\(schema).accesses")
                continue
            }
            let rows = accesses.map(Self.columns(of:))
            try await connection.query(
                PostgresQuery(
                    unsafeSQL: """
                        INSERT INTO \(schema).accesses
                        SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::date[], $5::text[], $6::text[],
                                             $7::text[], $8::bigint[], $9::text[], $10::boolean[], $11::text[],
                                             $12::text[], $13::text[], $14::text[], $15::text[], $16::text[])
                        """,
                    bindings: (0..<16).map { column in textArray(rows.map { $0[column] }) }))
        }
        // Into empty tables every access row is this working set's, its erasures and
        // cancellations already applied in memory: the updates below would change nothing,
        // and a rebuild loads without indexes, where each would scan the table.
        if !working.erasures.isEmpty && !fresh {
            // Rows an earlier batch wrote keep the name the organisation had then.
            try await connection.query(
                PostgresQuery(
                    unsafeSQL: "UPDATE \(schema).accesses SET name = $1 WHERE organisation_id = ANY($2::text[])",
                    bindings: [PersonalData.erased, textArray(working.erasures)]))
        }
        let records =
            try working.signOffs.map { ("sign_offs", $0.reportId, $0.recorded.position, try CanonicalJSON.text($0)) }
            + working.targets.map { ("targets", $0.targetId, $0.recorded.position, try CanonicalJSON.text($0)) }
        for (table, id, position, doc) in records {
            try await connection.query(
                PostgresQuery(
                    unsafeSQL: "INSERT INTO \(schema).\(table) VALUES ($1, $2, $3::jsonb)",
                    bindings: [id, String(position), doc]))
        }
        for cancellation in working.cancellations where !fresh {
            try await connection.query(
                PostgresQuery(
                    unsafeSQL: "UPDATE \(schema).accesses SET cancelled_position = $1 WHERE sub_grant_id = $2",
                    bindings: [String(cancellation.position), cancellation.subGrantId]))
        }
    }
}
