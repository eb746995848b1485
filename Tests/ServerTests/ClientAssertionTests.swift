import Foundation
import JWTKit
import LedgerCore
@testable import Server
import Testing

/// `ClientAssertion.unverified`, the parsing half of the token endpoint's assertion check (what the
/// `token` fuzz target drives): the claims and identity of a well-formed assertion, and the refusal
/// of text that is no JWT or whose iss and sub do not name one identity.
@Suite("Client assertions: parsing untrusted assertion text")
struct ClientAssertionTests {
    static let keys = IdentityKeys(seed: Array(repeating: 7, count: 32))
    static let tokenURL = "https://ledger.example.org/auth/token"
    static let notAJWT = "client_assertion is not a JWT with iss, sub, aud and exp"
    static let notOneIdentity = "iss and sub must both be the identity id (64 hex characters)"

    /// An unsigned compact JWT with `claims` as its payload.
    static func jwt(_ claims: String) -> String {
        func part(_ text: String) -> String {
            Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }
        return part(#"{"alg":"EdDSA","typ":"JWT"}"#) + "." + part(claims) + "."
    }

    @Test func anAssertionFromMakeAssertionReadsBackItsClaims() async throws {
        let assertion = try await TokenAuthority.makeAssertion(for: Self.keys, tokenURL: Self.tokenURL, now: Date(timeIntervalSince1970: 1_800_000_000))
        let (claims, identity) = try ClientAssertion.unverified(assertion)
        #expect(identity == Self.keys.derivedID)
        #expect(claims.aud.value == [Self.tokenURL])
        #expect(claims.exp.value == Date(timeIntervalSince1970: 1_800_000_240))
        #expect(claims.jti?.value.isEmpty == false)
    }

    @Test(arguments: [
        ("", notAJWT),
        ("not a token", notAJWT),
        ("a.b.c", notAJWT),
        (jwt(#"{"iss":"x","sub":"x","aud":"y"}"#), notAJWT),   // no exp
        (jwt(#"{"iss":"\#(keys.derivedID.hex)","sub":"\#(Hash256.sha256([1]).hex)","aud":"y","exp":1800000000}"#), notOneIdentity),
        (jwt(#"{"iss":"clinician","sub":"clinician","aud":"y","exp":1800000000}"#), notOneIdentity),
        (jwt(#"{"iss":"\#(keys.derivedID.hex.dropLast())","sub":"\#(keys.derivedID.hex.dropLast())","aud":"y","exp":1800000000}"#), notOneIdentity),
    ])
    func malformedAssertionsAreRefused(assertion: String, message: String) {
        #expect(throws: ClientAssertion.Refusal(message: message)) { try ClientAssertion.unverified(assertion) }
    }

    @Test func anUnsignedAssertionStillParses() throws {
        // Parsing does not check the signature: the caller verifies it with the identity's registered key.
        let hex = Self.keys.derivedID.hex
        let (_, identity) = try ClientAssertion.unverified(Self.jwt(#"{"iss":"\#(hex)","sub":"\#(hex)","aud":["y"],"exp":1800000000}"#))
        #expect(identity == Self.keys.derivedID)
    }
}
