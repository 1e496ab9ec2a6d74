import Foundation

/// An event of a type this version knows whose data does not decode as that type: written
/// by something other than this code (the application role can append any well-formed
/// JSON through `append_events()`). Readers treat it as absent and list it; they never stop
/// on it (docs/architecture.md, "Threat model").
public struct QuarantinedEvent: Sendable, Hashable, Codable {
    public var position: Int64
    public var type: String
    /// Why it does not decode, as the decoder said it.
    public var reason: String

    public init(position: Int64, type: String, reason: String) {
        self.position = position
        self.type = type
        self.reason = reason
    }
}

/// What reading one stored event gave.
public enum DecodedEvent: Sendable {
    /// A fact of this version.
    case event(DomainEvent)
    /// A type this version does not know (a later version's): passed over.
    case unknown
    /// A known type whose data does not fit it.
    case quarantined(QuarantinedEvent)
}

extension DomainEvent {
    /// Decodes a stored event without ever throwing: a known type whose data does not fit is
    /// `.quarantined` with the decoder's reason.
    public static func decodeOrQuarantine(position: Int64, type: String, data: String) -> DecodedEvent {
        var data = data
        return data.withUTF8 { decodeOrQuarantine(position: position, type: type, utf8: UnsafeRawBufferPointer($0)) }
    }

    /// `decodeOrQuarantine(position:type:data:)` of the data's UTF-8 bytes.
    public static func decodeOrQuarantine(position: Int64, type: String, utf8 data: UnsafeRawBufferPointer)
        -> DecodedEvent
    {
        do {
            guard let event = try decode(type: type, utf8: data) else { return .unknown }
            return .event(event)
        } catch {
            return .quarantined(QuarantinedEvent(position: position, type: type, reason: Self.reason(error)))
        }
    }

    /// `decodeOrQuarantine(position:type:data:)` of the type's and the data's UTF-8 bytes, as
    /// a result row holds them: a known type's name is this version's own `String`, and the
    /// data is parsed where it lies. `opened` may give the data of a known type with its
    /// sealed texts opened, decoded in its place; nil decodes the data as it lies.
    public static func decodeOrQuarantine(
        position: Int64, type: UnsafeRawBufferPointer, data: UnsafeRawBufferPointer,
        opened: (_ type: String) -> String? = { _ in nil }
    ) -> DecodedEvent {
        guard let type = knownType(utf8: type) else { return .unknown }
        if let data = opened(type) { return decodeOrQuarantine(position: position, type: type, data: data) }
        return decodeOrQuarantine(position: position, type: type, utf8: data)
    }

    /// A decoding error in one line: the field's path and what was wrong.
    static func reason(_ error: any Error) -> String {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.isEmpty
                ? "data"
                : codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
                    .joined(separator: ".")
        }
        let text: String
        switch error as? DecodingError {
        case .typeMismatch(_, let context)?: text = "\(path(context.codingPath)): \(context.debugDescription)"
        case .valueNotFound(_, let context)?: text = "\(path(context.codingPath)): \(context.debugDescription)"
        case .keyNotFound(let key, let context)?:
            text = "\(path(context.codingPath + [key])): missing (\(context.debugDescription))"
        case .dataCorrupted(let context)?: text = "\(path(context.codingPath)): \(context.debugDescription)"
        default: text = "\(error)"
        }
        return String(text.prefix(500))
    }
}
