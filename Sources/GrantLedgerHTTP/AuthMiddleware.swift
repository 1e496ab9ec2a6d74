import Hummingbird

/// Resolves `Authorization: Bearer <token>` to an identity; every route except the health
/// endpoints, `/openapi.json` and the published checkpoint needs one.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = LedgerRequestContext
    let tokens: TokenCache
    static let publicPaths: Set<String> = ["/healthz", "/readyz", "/openapi.json", "/v1/audit/checkpoint"]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        if Self.publicPaths.contains(request.uri.path) {
            return try await next(request, context)
        }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw APIError.unauthorized("send Authorization: Bearer <token>")
        }
        let secret = String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)
        guard let identity = try await tokens.identify(secret: secret) else {
            throw APIError.unauthorized("unknown or revoked token")
        }
        var context = context
        context.identity = identity
        context.notes.actor = identity.name
        context.logger[metadataKey: "auth.token.name"] = .string(identity.name)
        return try await next(request, context)
    }
}

extension LedgerRequestContext {
    /// Throws 403 unless the caller has one of `roles`.
    func require(_ roles: Role...) throws -> Identity {
        guard let identity else { throw APIError.unauthorized("send Authorization: Bearer <token>") }
        guard roles.contains(identity.role) else {
            throw APIError.forbidden("role \(identity.role.rawValue) may not do this")
        }
        return identity
    }
}
