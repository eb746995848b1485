import Foundation
import JWTKit
import LedgerCore
@testable import Server

// libFuzzer target `token`: the untrusted text of the token endpoint, built by Fuzz/run with these Server files
// instrumented: a client assertion (`ClientAssertion.unverified`, Sources/Server/ClientAssertion.swift, the parsing
// half of TokenAuthority.verifyAssertion: jwt-kit's JWT parser and the iss/sub check) and a requested scope list
// (`Scopes.parse`, Sources/Server/Scopes.swift). Whatever is accepted must read back the same.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzToken(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: data == nil ? 0 : size), as: UTF8.self)
    if let (claims, identity) = try? ClientAssertion.unverified(text) {
        fuzzCheck(claims.iss.value == claims.sub.value && Hash256(hex: claims.iss.value) == identity, "iss, sub and the identity differ")
        // The claims, written as a JWT again (unsigned), read back the same.
        let again = TokenFuzz.compact(claims)
        guard let (reread, id) = try? ClientAssertion.unverified(again) else { fatalError("re-serialized claims do not parse: \(again)") }
        fuzzCheck(id == identity && reread.iss == claims.iss && reread.aud == claims.aud && reread.jti == claims.jti
                     && TokenFuzz.close(reread.exp.value.timeIntervalSince1970, claims.exp.value.timeIntervalSince1970),
                     "re-serialized claims read differently")
    }
    if case .success(let scopes) = Scopes.parse(text) {
        fuzzCheck(!scopes.granted.isEmpty && scopes.granted.count <= Scopes.countMax, "scope count out of range")
        guard case .success(let again) = Scopes.parse(scopes.description) else { fatalError("granted scopes do not parse again") }
        fuzzCheck(again == scopes, "granted scopes read differently")
    }
    return 0
}

enum TokenFuzz {
    /// `header.payload.` in base64url, the payload written by jwt-kit's encoder.
    static func compact(_ claims: ClientAssertion) -> String {
        let header = Data(#"{"alg":"EdDSA","typ":"JWT"}"#.utf8)
        guard let payload = try? JSONEncoder.defaultForJWT.encode(claims) else { fatalError("claims do not encode") }
        return base64URL(header) + "." + base64URL(payload) + "."
    }

    /// Equal up to the rounding of a Date's offset from 2001 (what `exp` is held as).
    static func close(_ a: Double, _ b: Double) -> Bool { a == b || abs(a - b) <= 1e-9 * max(1, abs(a)) }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}

/// Stops the fuzzer with `message` when `condition` is false (a precondition's message is dropped in -O builds).
func fuzzCheck(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}
