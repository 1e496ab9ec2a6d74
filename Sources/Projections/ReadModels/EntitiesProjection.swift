import Foundation
import GrantDomain
import PostgresClient

/// Current state of every organisation, call, consortium, application, grant and
/// sub-grant, one JSON document per entity (`rm_entities.entities`), with the parent and
/// status extracted for filtering.
public struct EntitiesProjection: Projection {
    public let name = "entities"

    public init() {}

    /// The working set of one batch: documents loaded or created, and which changed.
    struct Working {
        var organisations: [String: OrganisationProfile] = [:]
        var calls: [String: CallView] = [:]
        var consortia: [String: ConsortiumView] = [:]
        var applications: [String: ApplicationView] = [:]
        var grants: [String: GrantView] = [:]
        var subGrants: [String: SubGrantView] = [:]
        var activities: [String: ActivityView] = [:]
        /// The keys of the entities the events folded so far touched, the rows to write; kept
        /// only when `tracksChanges` (a rebuild writes every entity once and skips it).
        var changed = Set<String>()
        var tracksChanges = true

        /// Notes an entity whose row changed, when changes are tracked (its key built only then).
        mutating func markChanged(_ key: @autoclosure () -> String) {
            if tracksChanges { changed.insert(key()) }
        }

        /// The key of every entity held, sorted.
        var allKeys: [String] {
            var keys: [String] = []
            keys.reserveCapacity(
                organisations.count + calls.count + consortia.count + applications.count + grants.count
                    + subGrants.count + activities.count)
            func add(_ kind: EntityKind, _ ids: Dictionary<String, some Any>.Keys) {
                for id in ids { keys.append(EntitiesProjection.key(kind, id)) }
            }
            add(.organisation, organisations.keys)
            add(.call, calls.keys)
            add(.consortium, consortia.keys)
            add(.application, applications.keys)
            add(.grant, grants.keys)
            add(.subGrant, subGrants.keys)
            add(.activity, activities.keys)
            return keys.sorted()
        }
    }

    static func key(_ kind: EntityKind, _ id: String) -> String { kind.rawValue + ":" + id }

    /// The entities an event touches: the one whose stream it is (`EntityTable`), and for an
    /// award the entities it counts under (a sub-grant's cancellation also touches its
    /// grant, found from the sub-grant's document).
    static func keys(of event: DomainEvent) -> [String] {
        var keys = EntityTable.entity(ofStream: event.streamID).map { [key($0.kind, $0.id)] } ?? []
        switch event {
        case .grantAwarded(let e):
            keys += [key(.application, e.applicationId), key(.call, e.callId), key(.consortium, e.consortiumId)]
        case .subGrantAwarded(let e):
            keys.append(key(.grant, e.grantId))
        default:
            break
        }
        return keys
    }

    public func apply(_ batch: [ProjectedEvent], schema: String, on connection: PostgresConnection) async throws {
        var working = Working()
        try await load(Set(batch.flatMap { Self.keys(of: $0.event) }), into: &working, schema: schema, on: connection)
        // Cancelled sub-grants free envelope on their grant, known from the sub-grant document.
        let grantKeys = batch.compactMap { projected -> String? in
            guard case .subGrantCancelled(let e) = projected.event,
                let grantId = working.subGrants[e.subGrantId]?.state.award.grantId
            else { return nil }
            return Self.key(.grant, grantId)
        }
        try await load(Set(grantKeys), into: &working, schema: schema, on: connection)
        // An erasure reaches the texts of the organisation's sub-grants.
        let erased = batch.compactMap { projected -> String? in
            if case .personalDataErased(let e) = projected.event { e.organisationId } else { nil }
        }
        if !erased.isEmpty {
            let rows = try await connection.query(
                PostgresQuery(
                    unsafeSQL: """
                        SELECT id FROM \(schema).entities
                        WHERE kind = 'subGrant' AND doc->'award'->>'organisationId' = ANY($1::text[])
                        """,
                    bindings: [textArray(erased)]))
            let keys = try rows.map { Self.key(.subGrant, try $0.decode(String.self, 0)) }
            try await load(Set(keys), into: &working, schema: schema, on: connection)
        }
        for projected in batch { Self.evolve(&working, with: projected.event) }
        try await save(working, schema: schema, on: connection)
    }

    private func load(
        _ keys: Set<String>, into working: inout Working, schema: String, on connection: PostgresConnection
    )
        async throws
    {
        guard !keys.isEmpty else { return }
        let pairs = keys.sorted().map { $0.split(separator: ":", maxSplits: 1).map(String.init) }
        // A join on (kind, id), so the primary key index serves every look-up.
        let rows = try await connection.query(
            PostgresQuery(
                unsafeSQL: """
                    SELECT e.kind, e.id, e.doc FROM \(schema).entities e
                    JOIN unnest($1::text[], $2::text[]) AS k(kind, id) ON e.kind = k.kind AND e.id = k.id
                    """,
                bindings: [textArray(pairs.map { $0[0] }), textArray(pairs.map { $0[1] })]))
        let decoder = JSONDecoder()
        // The documents' totals are sums of the log's amounts, wider than an amount.
        decoder.userInfo[Money.sumsKey] = true
        for row in rows {
            let id = try row.decode(String.self, 1)
            let doc = Data(try row.decode(String.self, 2).utf8)
            switch EntityKind(rawValue: try row.decode(String.self, 0)) {
            case .organisation: working.organisations[id] = try decoder.decode(OrganisationProfile.self, from: doc)
            case .call: working.calls[id] = try decoder.decode(CallView.self, from: doc)
            case .consortium: working.consortia[id] = try decoder.decode(ConsortiumView.self, from: doc)
            case .application: working.applications[id] = try decoder.decode(ApplicationView.self, from: doc)
            case .grant: working.grants[id] = try decoder.decode(GrantView.self, from: doc)
            case .subGrant: working.subGrants[id] = try decoder.decode(SubGrantView.self, from: doc)
            case .activity: working.activities[id] = try decoder.decode(ActivityView.self, from: doc)
            case nil: continue
            }
        }
    }

    /// Applies one event: the entity's own state moves by the domain's fold (`apply`), and
    /// the figures across entities that only the read model keeps follow.
    static func evolve(_ w: inout Working, with event: DomainEvent) {
        switch event {
        case .organisationRegistered(let e):
            w.organisations[e.organisationId] = e
        case .organisationProfileUpdated(let e):
            w.organisations[e.organisationId] = w.organisations[e.organisationId]?.applying(e)
        case .callPublished(let e):
            w.calls[e.callId] = CallView(state: CallState(call: e))
        case .consortiumFormed(let e):
            w.consortia[e.consortiumId] = ConsortiumView(state: ConsortiumState(formed: e))
        case .applicationSubmitted(let e):
            w.applications[e.applicationId] = ApplicationView(state: ApplicationState(submission: e))
        case .grantAwarded(let e):
            w.grants[e.grantId] = GrantView(state: GrantState(award: e))
            w.applications[e.applicationId]?.grantId = e.grantId
            w.calls[e.callId]?.grantsAwarded += 1
            w.calls[e.callId]?.amountAwarded += e.amount
            w.consortia[e.consortiumId]?.awardedGrantIds.append(e.grantId)
        case .subGrantAwarded(let e):
            w.subGrants[e.subGrantId] = SubGrantView(state: SubGrantState(award: e))
            w.grants[e.grantId]?.envelopeUsed += e.amount
            w.grants[e.grantId]?.subGrants += 1
        case .activityRecorded(let e):
            w.activities[e.activityId] = ActivityView(state: ActivityState(recorded: e))
        case .personalDataErased(let e):
            // The name, and the texts of every sub-grant the organisation has received.
            w.organisations[e.organisationId]?.name = PersonalData.erased
            for (id, view) in w.subGrants where view.state.award.organisationId == e.organisationId {
                w.subGrants[id]?.state.erasePersonalTexts()
                w.markChanged(key(.subGrant, id))
            }
        case .subGrantCancelled(let e):
            if let award = w.subGrants[e.subGrantId]?.state.award {
                w.subGrants[e.subGrantId]?.state.apply(event)
                if var grant = w.grants[award.grantId] {
                    grant.envelopeUsed = grant.envelopeUsed - award.amount
                    w.grants[award.grantId] = grant
                    w.markChanged(key(.grant, award.grantId))
                }
            }
        default:
            // Any other event moves the state of the entity whose stream it is, by the
            // domain's own fold (indicator reports and targets live in rm_i3).
            guard let (kind, id) = EntityTable.entity(ofStream: event.streamID) else { break }
            switch kind {
            case .organisation: break  // its later events are handled above
            case .call: w.calls[id]?.state.apply(event)
            case .consortium: w.consortia[id]?.state.apply(event)
            case .application: w.applications[id]?.state.apply(event)
            case .grant: w.grants[id]?.state.apply(event)
            case .subGrant: w.subGrants[id]?.state.apply(event)
            case .activity: w.activities[id]?.state.apply(event)
            }
        }
        if w.tracksChanges { w.changed.formUnion(keys(of: event)) }
    }

    public func makeBulkBuilder() -> any BulkProjectionBuilder { Bulk(projection: self) }

    /// The whole log in one working set: nothing to load, every entity written once, so the
    /// keys of the entities each event touched are not collected (`Working.tracksChanges`).
    final class Bulk: BulkProjectionBuilder {
        let projection: EntitiesProjection
        var working = Working(tracksChanges: false)

        init(projection: EntitiesProjection) { self.projection = projection }

        func add(_ batch: [ProjectedEvent]) {
            for projected in batch { EntitiesProjection.evolve(&working, with: projected.event) }
        }

        func writer() -> BulkWrite {
            let working = self.working
            return { schema, connection in try await Bulk.write(working, schema: schema, on: connection) }
        }

        /// Encodes chunks of 10,000 entities on tasks of their own, two ahead of the chunk
        /// being written: the JSON encoding (Swift) and the loads (PostgreSQL) overlap. The
        /// build tables are empty and every entity comes once, so each chunk goes in by COPY.
        static func write(_ working: Working, schema: String, on connection: PostgresConnection) async throws {
            let keys = working.allKeys
            var chunks = stride(from: 0, to: keys.count, by: 10_000).map {
                Array(keys[$0..<min($0 + 10_000, keys.count)])
            }[...]
            var pending: [Task<CopyTextRows, any Error>] = []
            func startNext() {
                guard let chunk = chunks.popFirst() else { return }
                pending.append(Task { try EntitiesProjection.rows(working, keys: chunk).copyText })
            }
            startNext()
            startNext()
            while !pending.isEmpty {
                let rows = try await pending.removeFirst().value
                startNext()
                try await connection.copy(rows, into: "\(schema).entities (kind, id, parent, status, doc)")
            }
        }
    }

    func save(_ w: Working, schema: String, on connection: PostgresConnection) async throws {
        guard !w.changed.isEmpty else { return }
        try await Self.insert(try Self.rows(w, keys: w.changed.sorted()), schema: schema, on: connection)
    }

    /// The columns of entities rows, a text array each, ready to insert.
    struct Rows: Sendable, Equatable {
        var kinds: [String?] = []
        var ids: [String?] = []
        var parents: [String?] = []
        var statuses: [String?] = []
        var docs: [String?] = []

        /// The rows for `COPY entities (kind, id, parent, status, doc)`.
        var copyText: CopyTextRows {
            var out = CopyTextRows()
            for index in kinds.indices {
                out.append([kinds[index], ids[index], parents[index], statuses[index], docs[index]])
            }
            return out
        }
    }

    /// The rows of the entities `keys` names, their documents encoded by `encode`: the
    /// project's encoder (`CanonicalJSON`, Foundation's bytes several times faster; the
    /// tests compare the two on every document of a programme).
    static func rows(
        _ w: Working, keys: [String], encode: (any Encodable) throws -> String = { try CanonicalJSON.text($0) }
    ) throws -> Rows {
        var rows = Rows()
        func add(_ kind: EntityKind, _ id: String, parent: String?, status: String?, _ doc: some Encodable) throws {
            rows.kinds.append(kind.rawValue)
            rows.ids.append(id)
            rows.parents.append(parent)
            rows.statuses.append(status)
            rows.docs.append(try encode(doc))
        }
        for key in keys {
            let parts = key.split(separator: ":", maxSplits: 1).map(String.init)
            let id = parts[1]
            switch EntityKind(rawValue: parts[0]) {
            case .organisation:
                if let o = w.organisations[id] {
                    try add(
                        .organisation, id, parent: o.regionCode ?? o.country, status: o.registrationStatus.rawValue, o)
                }
            case .call:
                if let c = w.calls[id] { try add(.call, id, parent: c.state.call.programme, status: c.status, c) }
            case .consortium:
                if let c = w.consortia[id] { try add(.consortium, id, parent: nil, status: c.status, c) }
            case .application:
                if let a = w.applications[id] {
                    try add(.application, id, parent: a.state.submission.callId, status: a.status, a)
                }
            case .grant:
                if let g = w.grants[id] { try add(.grant, id, parent: g.state.award.callId, status: g.status, g) }
            case .subGrant:
                if let s = w.subGrants[id] {
                    try add(.subGrant, id, parent: s.state.award.grantId, status: s.status, s)
                }
            case .activity:
                if let a = w.activities[id] {
                    try add(.activity, id, parent: a.state.recorded.grantId, status: a.status, a)
                }
            case nil:
                continue
            }
        }
        return rows
    }

    static func insert(_ rows: Rows, schema: String, on connection: PostgresConnection) async throws {
        try await connection.query(
            PostgresQuery(
                unsafeSQL: """
                    INSERT INTO \(schema).entities (kind, id, parent, status, doc)
                    SELECT k, i, p, s, d::jsonb FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS t(k, i, p, s, d)
                    ON CONFLICT (kind, id) DO UPDATE SET parent = excluded.parent, status = excluded.status, doc = excluded.doc
                    """,
                bindings: [
                    textArray(rows.kinds), textArray(rows.ids), textArray(rows.parents), textArray(rows.statuses),
                    textArray(rows.docs),
                ]))
    }
}
