import HTTPTypes

/// SMART on FHIR scopes, v1 (`system/Observation.read`, `user/*.write`, `patient/*.*`) and v2
/// (`system/Observation.rs`, `user/*.cruds`). A token carries the scopes it was granted; every
/// FHIR and /v1 interaction needs one that covers its resource type and permission, on top of the
/// ledger's own consent rules (a scope never grants what consent refuses). Unknown scopes are
/// refused when a token is requested.
public struct Scopes: Sendable, Equatable, CustomStringConvertible {
    /// The SMART v2 permissions.
    public struct Permissions: OptionSet, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let create = Permissions(rawValue: 1 << 0)
        public static let read = Permissions(rawValue: 1 << 1)
        public static let update = Permissions(rawValue: 1 << 2)
        public static let delete = Permissions(rawValue: 1 << 3)
        public static let search = Permissions(rawValue: 1 << 4)
        public static let all: Permissions = [.create, .read, .update, .delete, .search]
    }

    /// One granted scope: a context (`patient`, `user`, `system`), a resource type or `*`, permissions.
    public struct Scope: Sendable, Equatable {
        public let context: String
        public let resourceType: String
        public let permissions: Permissions
        public let text: String
    }

    public let granted: [Scope]

    /// Most scopes one token carries.
    public static let countMax = 32
    /// What a token gets when the request names no scope.
    public static let defaultText = "system/*.*"

    /// Parses a space-separated scope list; the failure names the first word that is not a SMART
    /// resource scope (`openid`, `launch` and the like are not granted by this node).
    public static func parse(_ text: String) -> Result<Scopes, ScopeError> {
        let words = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard !words.isEmpty else { return .failure(.init("no scope requested")) }
        guard words.count <= countMax else { return .failure(.init("at most \(countMax) scopes")) }
        var scopes: [Scope] = []
        for word in words {
            guard let scope = Self.scope(word) else { return .failure(.init("“\(word.prefix(80))” is not a SMART scope (context/Type.permissions)")) }
            if !scopes.contains(scope) { scopes.append(scope) }
        }
        return .success(Scopes(granted: scopes))
    }

    static func scope(_ word: String) -> Scope? {
        guard let slash = word.firstIndex(of: "/"), let dot = word.lastIndex(of: "."), slash < dot else { return nil }
        let context = String(word[..<slash])
        let type = String(word[word.index(after: slash)..<dot])
        let access = String(word[word.index(after: dot)...])
        guard ["patient", "user", "system"].contains(context) else { return nil }
        guard type == "*" || (type.count <= 64 && type.first?.isUppercase == true && type.allSatisfy { $0.isASCII && $0.isLetter }) else { return nil }
        let permissions: Permissions
        switch access {
        case "*": permissions = .all
        case "read": permissions = [.read, .search]
        case "write": permissions = [.create, .update, .delete]
        default:
            // v2: a non-empty subsequence of "cruds", in that order.
            var remaining = Substring("cruds")
            var letters: Permissions = []
            for letter in access {
                guard let index = remaining.firstIndex(of: letter) else { return nil }
                remaining = remaining[remaining.index(after: index)...]
                letters.insert([Character("c"): Permissions.create, "r": .read, "u": .update, "d": .delete, "s": .search][letter]!)
            }
            guard !letters.isEmpty else { return nil }
            permissions = letters
        }
        return Scope(context: context, resourceType: type, permissions: permissions, text: word)
    }

    /// Whether some granted scope covers `needed` on `resourceType` (`*` means every type: only a
    /// wildcard scope covers it).
    public func allow(_ needed: Permissions, on resourceType: String) -> Bool {
        var covered: Permissions = []
        for scope in granted where scope.resourceType == "*" || scope.resourceType == resourceType { covered.formUnion(scope.permissions) }
        return covered.isSuperset(of: needed)
    }

    /// The error for a refused interaction (403, `insufficient_scope`).
    public func require(_ needed: Permissions, on resourceType: String) throws(APIError) {
        guard allow(needed, on: resourceType) else {
            throw APIError(.forbidden, "insufficient_scope",
                           "the token's scopes (\(description)) do not allow \(Self.name(needed)) on \(resourceType == "*" ? "every resource type" : resourceType)")
        }
    }

    static func name(_ permissions: Permissions) -> String {
        [(Permissions.create, "create"), (.read, "read"), (.update, "update"), (.delete, "delete"), (.search, "search")]
            .filter { permissions.contains($0.0) }.map(\.1).joined(separator: "+")
    }

    public var description: String { granted.map(\.text).joined(separator: " ") }

    /// What an interaction needs: its resource type (`*` for the ledger API and for interactions
    /// over many types) and permissions, from the request's method and path.
    static func needed(method: HTTPRequest.Method, path: String) -> (type: String, permissions: Permissions) {
        let parts = path.split(separator: "/").map(String.init)
        guard parts.first == "fhir" else {
            // The ledger's own /v1 API: reading it is reading across types; anything else writes.
            return ("*", method == .get || method == .head ? [.read] : [.create])
        }
        let rest = Array(parts.dropFirst())
        guard let first = rest.first else { return ("*", [.create, .update]) }  // POST /fhir: a transaction or batch
        if first.hasPrefix("$") { return ("*", [.read, .search]) }  // $export, $export-status, $export-file
        let type = first
        switch (method, rest.count) {
        case (.get, 1): return (type, [.search])
        case (.get, _) where rest.last == "_history" && rest.count == 2: return (type, [.search])  // type history
        case (.get, 3) where rest[2].hasPrefix("$"): return ("*", [.read, .search])  // Patient/{id}/$everything
        case (.get, _): return (type, [.read])
        case (.post, 2) where rest[1] == "_search": return (type, [.search])
        case (.post, 1): return (type, [.create])
        case (.post, _): return (type, [.create])
        case (.put, _): return (type, [.update])
        case (.delete, _): return (type, [.delete])
        default: return (type, [.read])
        }
    }
}

/// A requested scope the node does not grant.
public struct ScopeError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
