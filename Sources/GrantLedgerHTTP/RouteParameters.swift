import EventStore
import Exports
import Foundation
import GrantDomain
import HTTPTypes
import Hummingbird
import Ledger
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresClient
import Projections
import Transparency

/// A positive integer query parameter (a position or a tree size): 1 to 2^63 − 1.
func sizeParameter(_ request: Request, _ name: String, required: Bool) throws -> Int64? {
    guard let value = try positionParameter(request, name) else {
        if required { throw APIError.invalid("\(name) is required") }
        return nil
    }
    guard value >= 1 else { throw APIError.invalid("\(name) must be an integer from 1 to 9223372036854775807") }
    return value
}

/// A log position given as a query parameter (`after`): nil when absent.
func positionParameter(_ request: Request, _ name: String) throws -> Int64? {
    try request.uri.queryParameters.get(name).map { text -> Int64 in
        guard case .position(let value)? = CutOff.parse(text) else {
            throw APIError.invalid("\(name) must be a position ≥ 0")
        }
        return value
    }
}

/// The `limit` query parameter: 1 to `ServerLimits.maxPageSize`, `default` when absent.
func pageSize(_ request: Request, default value: Int) throws -> Int {
    guard let text = request.uri.queryParameters.get("limit") else { return value }
    guard let limit = parseLimit(text) else {
        throw APIError.invalid("limit must be 1-\(ServerLimits.maxPageSize)")
    }
    return limit
}

/// A page size of 1 to `ServerLimits.maxPageSize` in ASCII digits; nil otherwise.
func parseLimit(_ text: String) -> Int? {
    let bytes = Array(text.utf8)
    guard (1...6).contains(bytes.count), bytes.allSatisfy({ (48...57).contains($0) }), let limit = Int(text),
        (1...ServerLimits.maxPageSize).contains(limit)
    else { return nil }
    return limit
}

/// The id a list continues after: the cursor's base64 payload when it is one this API
/// issued, else the cursor text itself, so that no cursor is refused (see the OpenAPI
/// document).
func cursorAfter(_ cursor: String) -> String {
    if let data = Data(base64Encoded: cursor), let id = String(validating: data, as: UTF8.self),
        !id.unicodeScalars.contains("\u{0}")
    {
        return id
    }
    return cursor
}

/// The period, programme, call and cut-off of an I.3 request.
func i3Inputs(_ request: Request) throws -> (I3Query, CutOff) {
    let query = request.uri.queryParameters
    guard let fromText = query.get("from"), let from = BusinessDate(fromText) else {
        throw APIError.invalid("query parameter from must be a date YYYY-MM-DD")
    }
    guard let toText = query.get("to"), let to = BusinessDate(toText) else {
        throw APIError.invalid("query parameter to must be a date YYYY-MM-DD")
    }
    // Rules between parameters are not malformed requests (the OpenAPI document cannot state
    // them): they name a figure that does not exist, so they answer 404 like an unknown id.
    guard to >= from else {
        throw APIError.notFound("the period \(fromText)..\(toText) holds no day: to is before from")
    }
    // `call` is the CLI's `--call` in camelCase; `callId` the name the figure's endpoint had first.
    let callId = query.get("callId")
    let call = query.get("call")
    if let callId, let call, callId != call {
        throw APIError.notFound("callId \(callId) and call \(call) name two calls; no figure is under both")
    }
    return (
        I3Query(from: from, to: to, programme: query.get("programme"), callId: callId ?? call),
        try cutOffParameter(request)
    )
}

/// The `asOf` query parameter: the head when absent.
func cutOffParameter(_ request: Request) throws -> CutOff {
    guard let asOf = request.uri.queryParameters.get("asOf") else { return .head }
    guard let parsed = CutOff.parse(asOf) else {
        throw APIError.invalid("asOf \(asOf) is neither a log position nor an RFC 3339 timestamp")
    }
    return parsed
}

/// The `format` query parameter (or `Accept: text/csv`), one of `allowed`; JSON by default.
func textFormat(_ request: Request, allowed: [ReportFormat]) throws -> ReportFormat {
    guard let text = request.uri.queryParameters.get("format") else {
        let csv = request.headers[.accept]?.contains("text/csv") == true && allowed.contains(.csv)
        return csv ? .csv : .json
    }
    guard let format = ReportFormat(rawValue: text), allowed.contains(format) else {
        throw APIError.invalid("format must be one of " + allowed.map(\.rawValue).joined(separator: ", "))
    }
    return format
}

/// The `bom` query parameter: true puts a UTF-8 byte-order mark before a CSV answer.
func bomParameter(_ request: Request) throws -> Bool {
    switch request.uri.queryParameters.get("bom") {
    case nil, "false": return false
    case "true": return true
    default: throw APIError.invalid("bom must be true or false")
    }
}

/// The language of a picture: `?lang=` (en, kk or ru), else the first supported language of
/// `Accept-Language`, else English.
func languageParameter(_ request: Request) throws -> ReportLanguage {
    if let text = request.uri.queryParameters.get("lang") {
        guard let language = ReportLanguage(rawValue: text) else {
            throw APIError.invalid("lang must be one of en, kk, ru; got \"\(text)\"")
        }
        return language
    }
    return request.headers[.acceptLanguage].flatMap(ReportLanguage.init(acceptLanguage:)) ?? .en
}

/// An optional enumeration query parameter: nil when absent, `invalid` naming the values
/// when it is none of them.
func enumeration<E: RawRepresentable & CaseIterable>(_ parameters: Parameters, _ name: String) throws -> E?
where E.RawValue == String {
    guard let text = parameters.get(name) else { return nil }
    guard let value = E(rawValue: text) else {
        throw APIError.invalid(
            "\(name) must be one of " + E.allCases.map(\.rawValue).joined(separator: ", ") + "; got \"\(text)\"")
    }
    return value
}
