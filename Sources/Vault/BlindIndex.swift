public import Crypto
import Foundation
import LedgerCore

/// The kinds of direct identifier the blind index covers.
public enum IdentifierField: String, CaseIterable, Sendable {
    case name, identifier, telecom, address
}

/// The secret key of a node's blind index.
public struct BlindIndexKey: Sendable {
    let key: SymmetricKey

    /// Uses at least 32 secret bytes.
    public init(secret: [UInt8]) throws(VaultError) {
        guard secret.count >= 32 else { throw .invalidKey("a blind index key needs at least 32 bytes") }
        key = SymmetricKey(data: secret)
    }

    /// Derives the key from a node's X25519 private key (HKDF-SHA256), so no extra secret file is needed.
    public static func derive(from agreementKey: Curve25519.KeyAgreement.PrivateKey) -> BlindIndexKey {
        let derived = HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: agreementKey.rawRepresentation),
                                             info: Array("careledger/blind-index/v1".utf8), outputByteCount: 32)
        return BlindIndexKey(key: derived)
    }

    init(key: SymmetricKey) { self.key = key }
}

/// A keyed hash (HMAC-SHA256) of one normalized token: what the index stores instead of text.
public struct BlindToken: Hashable, Sendable {
    public let bytes: [UInt8]
}

/// Turns direct identifiers into blind tokens: normalized words and their prefixes (≥ 3
/// characters), each HMAC'd with the node's key and the field name.
public struct BlindIndexer: Sendable {
    /// Shortest prefix indexed (and shortest query).
    public static let prefixMin = 3
    /// Longest token kept, in characters.
    public static let tokenCharactersMax = 64
    /// Most tokens one value yields.
    public static let tokensPerValueMax = 256

    let key: BlindIndexKey

    public init(key: BlindIndexKey) { self.key = key }

    /// Words of a name or address: case and diacritics folded, split on anything but letters and digits.
    public static func normalize(_ text: String) -> [String] {
        text.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil)
            .split(whereSeparator: { !($0.isLetter || $0.isNumber) })
            .map { String($0.prefix(tokenCharactersMax)) }
    }

    /// Normalized tokens for a field: telecom and identifier values become one token of their
    /// letters and digits ("MRN-00123" → "mrn00123"), names and addresses become words.
    public static func normalize(_ text: String, field: IdentifierField) -> [String] {
        let words = normalize(text)
        switch field {
        case .telecom, .identifier:
            let joined = words.joined()
            return joined.isEmpty ? [] : [String(joined.prefix(tokenCharactersMax))]
        case .name, .address: return words
        }
    }

    /// Tokens to index for a value: each normalized token and its prefixes of ≥ 3 characters,
    /// plus one whole-word token per word (`:exact`) and the field's presence token (`:missing`).
    public func tokens(field: IdentifierField, value: String) -> Set<BlindToken> {
        if let qualified = Self.systemQualifiedWord(value) { return [token(field, qualified)] }
        var out = Set<BlindToken>()
        let words = Self.normalize(value, field: field)
        if !words.isEmpty { out.insert(presenceToken(field: field)) }
        for word in words {
            out.insert(wholeWordToken(field, word))
            let characters = Array(word)
            let shortest = min(Self.prefixMin, characters.count)
            for length in shortest...characters.count where out.count < Self.tokensPerValueMax {
                out.insert(token(field, String(characters[0..<length])))
            }
        }
        return out
    }

    /// The token for the first word of a query; nil if it is shorter than 3 characters.
    /// Use `queryTokens` to match every word.
    public func queryToken(field: IdentifierField, query: String) -> BlindToken? { queryTokens(field: field, query: query).first }

    /// One token per query word (words shorter than 3 characters are dropped).
    public func queryTokens(field: IdentifierField, query: String) -> [BlindToken] {
        if let qualified = Self.systemQualifiedWord(query) { return [token(field, qualified)] }
        return Self.normalize(query, field: field).filter { $0.count >= Self.prefixMin }.map { token(field, $0) }
    }

    /// An identifier with its system (`system|value`), indexed and queried as one token, so
    /// `identifier=system|value` matches that system's identifier only — never the same value
    /// issued by another system. The value is normalized as identifiers are.
    public static func systemQualified(system: String, value: String) -> String {
        "\u{1}" + system.trimmingCharacters(in: .whitespaces) + "|" + normalize(value, field: .identifier).joined()
    }

    /// The token word of a `systemQualified` text, or nil for plain text.
    static func systemQualifiedWord(_ text: String) -> String? {
        guard text.hasPrefix("\u{1}"), text.count > 2 else { return nil }
        return "\u{0}system\u{0}" + String(text.dropFirst().prefix(tokenCharactersMax * 4))
    }

    /// One whole-word token per query word (`:exact`: the word itself, never a longer word it begins).
    public func exactQueryTokens(field: IdentifierField, query: String) -> [BlindToken] {
        if let qualified = Self.systemQualifiedWord(query) { return [token(field, qualified)] }
        return Self.normalize(query, field: field).filter { $0.count >= Self.prefixMin }.map { wholeWordToken(field, $0) }
    }

    /// The token every record with at least one word in `field` carries (`:missing`); reveals presence only.
    public func presenceToken(field: IdentifierField) -> BlindToken { token(field, "\u{0}present") }

    /// A whole word, domain-separated from prefixes (a prefix token cannot equal it).
    func wholeWordToken(_ field: IdentifierField, _ word: String) -> BlindToken { token(field, "\u{0}word\u{0}" + word) }

    func token(_ field: IdentifierField, _ word: String) -> BlindToken {
        var message = Array("careledger/blind/v1".utf8)
        message.append(0)
        message += Array(field.rawValue.utf8)
        message.append(0)
        message += Array(word.utf8)
        return BlindToken(bytes: Array(HMAC<SHA256>.authenticationCode(for: message, using: key.key)))
    }
}

/// A direct identifier found in a resource: indexed only as blind tokens.
public struct ExtractedIdentifier: Sendable, Equatable {
    public let field: IdentifierField
    public let value: String

    public init(field: IdentifierField, value: String) { (self.field, self.value) = (field, value) }
}

/// A non-identifying value (code, date, status) that may be indexed as is, against record ids.
public struct IndexedValue: Sendable, Equatable, Hashable {
    public let param: String
    public let value: String

    public init(param: String, value: String) { (self.param, self.value) = (param, value) }
}

/// What the index may know of a resource.
public struct ExtractedFields: Sendable, Equatable {
    public var resourceType: String
    public var identifiers: [ExtractedIdentifier]
    public var values: [IndexedValue]

    public init(resourceType: String, identifiers: [ExtractedIdentifier] = [], values: [IndexedValue] = []) {
        (self.resourceType, self.identifiers, self.values) = (resourceType, identifiers, values)
    }
}
