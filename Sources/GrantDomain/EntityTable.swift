/// The kinds of entity the ledger keeps, each with one row of `EntityTable`.
public enum EntityKind: String, Sendable, CaseIterable {
    case organisation, call, consortium, application, grant, subGrant, activity

    /// The kind's row of the entity table.
    public var spec: EntitySpec { EntityTable.spec(self) }

    /// The entity's stream.
    public func stream(_ id: String) -> String { spec.streamPrefix + id }

    /// The data key by which events name an entity of this kind (`grantId`), its own and
    /// those of other entities that point at it.
    public var pointer: String { spec.idField }

    /// The name on the command line (`show sub-grant SG-1`).
    public var argumentName: String { spec.cliName }

    /// The command whose event creates an entity of this kind.
    public var creatingCommand: String { spec.creatingCommand }
}

/// What every layer knows of an entity kind: its stream, its id field, its names on the
/// command line and in URLs, the filter that names its parent in a list, and the command
/// that creates it. The CLI's entity argument, the HTTP collections, stream names and the
/// history's pointers all read this table; adding an entity kind starts with a row here.
public struct EntitySpec: Sendable {
    public let kind: EntityKind
    /// Stream names are this prefix and the entity's id.
    public let streamPrefix: String
    /// The id's field in commands and events (`subGrantId`).
    public let idField: String
    /// The kind's name on the command line (`sub-grant`).
    public let cliName: String
    /// The collection's URL segment (`/v1/sub-grants`).
    public let path: String
    /// The list filter (a query parameter, a CLI option) that selects by parent, if any.
    public let parentFilter: String?
    /// The command whose event creates the entity.
    public let creatingCommand: String
}

public enum EntityTable {
    public static let specs: [EntitySpec] = [
        EntitySpec(
            kind: .organisation, streamPrefix: "organisation-", idField: "organisationId", cliName: "organisation",
            path: "organisations", parentFilter: "region", creatingCommand: "registerOrganisation"),
        EntitySpec(
            kind: .call, streamPrefix: "call-", idField: "callId", cliName: "call", path: "calls",
            parentFilter: "programme", creatingCommand: "publishCall"),
        EntitySpec(
            kind: .consortium, streamPrefix: "consortium-", idField: "consortiumId", cliName: "consortium",
            path: "consortia", parentFilter: nil, creatingCommand: "formConsortium"),
        EntitySpec(
            kind: .application, streamPrefix: "application-", idField: "applicationId", cliName: "application",
            path: "applications", parentFilter: "callId", creatingCommand: "submitApplication"),
        EntitySpec(
            kind: .grant, streamPrefix: "grant-", idField: "grantId", cliName: "grant", path: "grants",
            parentFilter: "callId", creatingCommand: "awardGrant"),
        EntitySpec(
            kind: .subGrant, streamPrefix: "subgrant-", idField: "subGrantId", cliName: "sub-grant",
            path: "sub-grants", parentFilter: "grantId", creatingCommand: "awardSubGrant"),
        EntitySpec(
            kind: .activity, streamPrefix: "activity-", idField: "activityId", cliName: "activity",
            path: "activities", parentFilter: "grantId", creatingCommand: "recordActivity"),
    ]

    /// The row of `kind`.
    public static func spec(_ kind: EntityKind) -> EntitySpec {
        // The table has one row per kind, in the kinds' order (EntityTableTests holds it to that).
        specs[EntityKind.allCases.firstIndex(of: kind) ?? 0]
    }

    /// The entity whose stream `stream` is; nil for a stream of no entity (reporting rules,
    /// indicator reports and targets).
    public static func entity(ofStream stream: String) -> (kind: EntityKind, id: String)? {
        for spec in specs where stream.hasPrefix(spec.streamPrefix) {
            return (spec.kind, String(stream.dropFirst(spec.streamPrefix.count)))
        }
        return nil
    }

    /// The kind whose command-line name is `name`.
    public static func kind(cliName name: String) -> EntityKind? {
        specs.first { $0.cliName == name }?.kind
    }
}
