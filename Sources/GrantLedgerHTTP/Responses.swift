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

/// A CSV answer, with a byte-order mark first when asked for (`?bom=true`).
func csvResponse(_ csv: String, byteOrderMark: Bool) -> Response {
    textResponse(CSV.document(csv, byteOrderMark: byteOrderMark), contentType: "text/csv; charset=utf-8")
}

/// A text answer; with its `Content-Language` when it is written in one.
func textResponse(_ text: String, contentType: String, language: ReportLanguage? = nil) -> Response {
    var headers: HTTPFields = [.contentType: contentType]
    if let language { headers[.contentLanguage] = language.rawValue }
    return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
}
