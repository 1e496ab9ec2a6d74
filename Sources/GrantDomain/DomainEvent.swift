import Foundation

extension DomainEvent {
    /// One decoder for every event: creating one per call costs more than decoding.
    /// Decoding does not mutate it; it is Sendable.
    static let sharedDecoder = JSONDecoder()

    /// The project's one encoder (`ResponseJSON.encoder`).
    static var sharedEncoder: JSONEncoder { ResponseJSON.encoder }

    /// The data as a JSON object text (`CanonicalJSON`).
    public var dataJSON: String {
        (try? CanonicalJSON.text(data)) ?? "{}"
    }

    /// The stored event types this version knows.
    static let knownTypes = Set(CommandTable.specs.map(\.event))

    /// The known types' names with their UTF-8 bytes, for `knownType(utf8:)`.
    private static let knownTypeNames = knownTypes.sorted().map { (utf8: Array($0.utf8), name: $0) }

    /// The known type whose name is `bytes`, nil for any other: the name read from a result
    /// row without a `String` made for it (the table's names are shared, not copied).
    public static func knownType(utf8 bytes: UnsafeRawBufferPointer) -> String? {
        knownTypeNames.first { $0.utf8.count == bytes.count && $0.utf8.elementsEqual(bytes) }?.name
    }
}

/// Stream names, one per entity.
public enum Streams {
    public static func organisation(_ id: String) -> String { EntityKind.organisation.stream(id) }
    public static func call(_ id: String) -> String { EntityKind.call.stream(id) }
    public static func consortium(_ id: String) -> String { EntityKind.consortium.stream(id) }
    public static func application(_ id: String) -> String { EntityKind.application.stream(id) }
    public static func grant(_ id: String) -> String { EntityKind.grant.stream(id) }
    public static func subGrant(_ id: String) -> String { EntityKind.subGrant.stream(id) }
    public static func activity(_ id: String) -> String { EntityKind.activity.stream(id) }
    /// One stream per index and year: its latest event is the value in force.
    public static func index(_ indexId: IndexId, _ year: Int64) -> String { "index-\(indexId.rawValue)-\(year)" }
    public static let reportingRules = "reporting-rules"
    public static func indicatorReport(_ id: String) -> String { "indicator-report-\(id)" }
    public static func indicatorTarget(_ id: String) -> String { "indicator-target-\(id)" }
}
