import GrantDomain
import HTTPTypes
import Hummingbird

/// The routes the API serves, as method and path templates, for answering 405 with
/// `Allow` when a known path is asked with a method it does not support.
final class KnownRoutes: Sendable {
    static let shared = KnownRoutes(routeTable())

    private let routes: [(method: HTTPRequest.Method, segments: [Substring])]

    init(_ table: [String]) {
        routes = table.compactMap { line in
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, let method = HTTPRequest.Method(String(parts[0])) else { return nil }
            return (method, parts[1].split(separator: "/"))
        }
    }

    /// The methods served on `path`, or nil when no route matches it.
    func methods(forPath path: String) -> [HTTPRequest.Method]? {
        let segments = path.split(separator: "/")
        let matching = routes.filter { route in
            route.segments.count == segments.count
                && zip(route.segments, segments).allSatisfy { template, actual in
                    template.hasPrefix("{") || template == actual
                }
        }
        return matching.isEmpty ? nil : matching.map(\.method)
    }
}

/// Refuses hostile query strings before any route sees them: every parameter name and
/// value must percent-decode to valid UTF-8 without U+0000, and values are at most
/// `FilterText.maxLength` Unicode scalars (docs/domain.md §1; the OpenAPI document says the same).
struct QueryGuardMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        if let query = request.uri.query, !query.isEmpty {
            try Self.check(query)
        }
        return try await next(request, context)
    }

    /// Throws `invalid` naming the first bad parameter.
    static func check(_ query: String) throws {
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = percentDecoded(parts[0]) else {
                throw APIError.invalid("a query parameter name is not valid percent-encoded UTF-8")
            }
            let shownName = String(String.UnicodeScalarView(name.unicodeScalars.prefix(40)))
                .replacingOccurrences(of: "\u{0}", with: "\\u0000")
            guard !name.unicodeScalars.contains("\u{0}") else {
                throw APIError.invalid("query parameter \(shownName) holds U+0000")
            }
            guard parts.count == 2 else { continue }
            guard let value = percentDecoded(parts[1]) else {
                throw APIError.invalid("query parameter \(shownName) is not valid percent-encoded UTF-8")
            }
            guard !value.unicodeScalars.contains("\u{0}") else {
                throw APIError.invalid("query parameter \(shownName) holds U+0000")
            }
            guard value.unicodeScalars.count <= FilterText.maxLength else {
                throw APIError.invalid("query parameter \(shownName) is longer than \(FilterText.maxLength) characters")
            }
        }
    }

    /// Decodes `%XX` and `+`; nil for a malformed escape or bytes that are not UTF-8.
    static func percentDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        func hex(_ byte: UInt8?) -> UInt8? {
            switch byte {
            case .some(let b) where (48...57).contains(b): return b - 48
            case .some(let b) where (65...70).contains(b): return b - 55
            case .some(let b) where (97...102).contains(b): return b - 87
            default: return nil
            }
        }
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "%"):
                guard let high = hex(iterator.next()), let low = hex(iterator.next()) else { return nil }
                bytes.append(high << 4 | low)
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            default:
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
