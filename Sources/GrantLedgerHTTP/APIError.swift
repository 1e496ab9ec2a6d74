import EventStore
import GrantDomain
import HTTPTypes
import Hummingbird
import NIOCore
import PostgresClient

/// An error answered with the domain.md §5 body `{"error": {"code", "message"}}`.
public struct APIError: Error, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    static func unauthorized(_ message: String) -> APIError { APIError(.unauthorized, "unauthorized", message) }
    static func forbidden(_ message: String) -> APIError { APIError(.forbidden, "forbidden", message) }
    static func invalid(_ message: String) -> APIError { APIError(.badRequest, "invalid", message) }
    static func notFound(_ message: String) -> APIError { APIError(.notFound, "notFound", message) }

    var response: Response {
        jsonResponse(status, "{\"error\": {\"code\": \(jsonQuoted(code)), \"message\": \(jsonQuoted(message))}}")
    }
}

extension DomainError {
    /// 400 invalid, 404 notFound, 409 alreadyExists and conflict, 422 ruleViolated.
    var apiError: APIError {
        let status: HTTPResponse.Status
        switch code {
        case .invalid: status = .badRequest
        case .notFound: status = .notFound
        case .alreadyExists, .conflict: status = .conflict
        case .ruleViolated: status = .unprocessableContent
        }
        return APIError(status, code.rawValue, message)
    }
}

/// A JSON response.
func jsonResponse(_ status: HTTPResponse.Status, _ body: String) -> Response {
    Response(
        status: status, headers: [.contentType: "application/json; charset=utf-8"],
        body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
}

/// Turns every error into a JSON response, mapping domain and database errors; logs the
/// unexpected ones without request data.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return error.response
        } catch let error as DomainError {
            return error.apiError.response
        } catch is NIOTooManyBytesError {
            return APIError(.contentTooLarge, "payloadTooLarge", "the request body exceeds \(ServerLimits.maxBodyBytes) bytes")
                .response
        } catch let error as PostgresError {
            return Self.database(error, context: context)
        } catch EventStoreError.database(let error) {
            return Self.database(error, context: context)
        } catch let error as any HTTPResponseError {
            return APIError(error.status, error.status == .notFound ? "notFound" : "invalid", error.status.reasonPhrase).response
        } catch {
            context.logger.error("unexpected error", metadata: ["error.type": "\(type(of: error))"])
            return APIError(.internalServerError, "internal", "internal error").response
        }
    }

    static func database(_ error: PostgresError, context: Context) -> Response {
        if error.isUnavailable {
            context.logger.warning("database unavailable", metadata: ["db.error.kind": "\(error.kind.rawValue)"])
            return APIError(.serviceUnavailable, "unavailable", "the database is unavailable; try again shortly").response
        }
        context.logger.error("database error", metadata: ["db.sqlstate": "\(error.sqlState ?? "")"])
        return APIError(.internalServerError, "internal", "internal error").response
    }
}
