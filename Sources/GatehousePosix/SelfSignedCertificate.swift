import CGatehouseShims
import COpenSSL
import Glibc

/// A fresh self-signed certificate made with libcrypto alone (no openssl CLI), for `gatehouse demo` and
/// tests: an EC P-256 key, SAN DNS:localhost, IP:127.0.0.1 and IP:::1 (plus the common name when it is a
/// host name), serverAuth, valid from five minutes ago for `days`. The certificate is its own trust
/// anchor: a client given it as the CA file (`curl --cacert`) verifies the server.
public enum SelfSignedCertificate {
    /// File names inside the directory given to `write(to:)`.
    public static let certificateFileName = "cert.pem"
    public static let keyFileName = "key.pem"

    /// Writes `cert.pem` (mode 0644) and `key.pem` (mode 0600) into `directory`, creating it (0700)
    /// when missing and replacing earlier files.
    public static func write(
        to directory: String, commonName: String = "localhost", days: Int = 30
    ) throws(TLSError) -> (certificatePath: String, keyPath: String) {
        guard days >= 1, days <= 3650 else { throw TLSError("certificate validity must be 1...3650 days, not \(days)") }
        guard !commonName.isEmpty, commonName.utf8.count <= 64,
            !commonName.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F })
        else { throw TLSError("certificate common name must be 1...64 printable bytes") }
        ERR_clear_error()
        let key = try makeKey()
        defer { EVP_PKEY_free(key) }
        let certificate = try makeCertificate(key: key, commonName: commonName, days: days)
        defer { X509_free(certificate) }

        let certificatePEM = try pem("certificate") { bio in PEM_write_bio_X509(bio, certificate) }
        var keyPEM = try pem("private key") { bio in
            PEM_write_bio_PrivateKey(bio, key, nil, nil, 0, nil, nil)
        }
        // The key does not linger in freed memory.
        defer { for index in keyPEM.indices { keyPEM[index] = 0 } }

        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw TLSError("cannot create directory \(directory): \(TLSError.errnoText(errno))")
        }
        let base = directory.hasSuffix("/") ? directory : directory + "/"
        let certificatePath = base + certificateFileName
        let keyPath = base + keyFileName
        try writeFile(keyPath, keyPEM, mode: 0o600)
        try writeFile(certificatePath, certificatePEM, mode: 0o644)
        return (certificatePath, keyPath)
    }

    private static func makeKey() throws(TLSError) -> OpaquePointer {
        guard let keyContext = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else {
            throw TLSError.drainingQueue("cannot create an EC key context")
        }
        defer { EVP_PKEY_CTX_free(keyContext) }
        var key: OpaquePointer? = nil
        guard EVP_PKEY_keygen_init(keyContext) == 1,
            EVP_PKEY_CTX_set_group_name(keyContext, "P-256") == 1,
            EVP_PKEY_generate(keyContext, &key) == 1, let key
        else { throw TLSError.drainingQueue("cannot generate a P-256 key") }
        return key
    }

    private static func makeCertificate(key: OpaquePointer, commonName: String, days: Int) throws(TLSError)
        -> OpaquePointer
    {
        guard let certificate = X509_new() else { throw TLSError.drainingQueue("cannot create a certificate") }
        var ok = X509_set_version(certificate, 2) == 1  // X.509 v3
        if let serial = BN_new() {
            // 127 random bits: positive, and unique enough that browsers never see a reused serial.
            ok = ok && BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1
            ok = ok && BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(certificate)) != nil
            BN_free(serial)
        } else {
            ok = false
        }
        ok = ok && X509_gmtime_adj(X509_getm_notBefore(certificate), -300) != nil
        ok = ok && X509_gmtime_adj(X509_getm_notAfter(certificate), days * 86_400) != nil
        ok = ok && X509_set_pubkey(certificate, key) == 1
        if ok, let name = X509_get_subject_name(certificate) {
            ok = X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, commonName, -1, -1, 0) == 1
            ok = ok && X509_set_issuer_name(certificate, name) == 1
        } else {
            ok = false
        }
        guard ok else {
            X509_free(certificate)
            throw TLSError.drainingQueue("cannot fill in the certificate")
        }
        var alternativeNames = "DNS:localhost,IP:127.0.0.1,IP:::1"
        if commonName != "localhost" && isHostName(commonName) {
            alternativeNames = "DNS:\(commonName)," + alternativeNames
        }
        let extensions: [(Int32, String)] = [
            (NID_basic_constraints, "critical,CA:FALSE"),
            (NID_ext_key_usage, "serverAuth"),
            (NID_subject_key_identifier, "hash"),
            (NID_subject_alt_name, alternativeNames),
        ]
        var v3 = X509V3_CTX()
        X509V3_set_ctx(&v3, certificate, certificate, nil, nil, 0)
        for (nid, value) in extensions {
            guard let ext = X509V3_EXT_conf_nid(nil, &v3, nid, value) else {
                X509_free(certificate)
                throw TLSError.drainingQueue("cannot make certificate extension \(value)")
            }
            let added = X509_add_ext(certificate, ext, -1) == 1
            X509_EXTENSION_free(ext)
            guard added else {
                X509_free(certificate)
                throw TLSError.drainingQueue("cannot add certificate extension \(value)")
            }
        }
        guard X509_sign(certificate, key, EVP_sha256()) > 0 else {
            X509_free(certificate)
            throw TLSError.drainingQueue("cannot sign the certificate")
        }
        return certificate
    }

    /// Letters, digits, dots and hyphens: safe to put in a DNS SAN.
    private static func isHostName(_ name: String) -> Bool {
        name.utf8.allSatisfy { byte in
            (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39)
                || byte == 0x2E || byte == 0x2D
        }
    }

    /// The PEM text `body` writes into a memory BIO.
    private static func pem(_ what: String, _ body: (OpaquePointer) -> Int32) throws(TLSError) -> [UInt8] {
        guard let bio = BIO_new(BIO_s_mem()) else { throw TLSError.drainingQueue("cannot create a memory BIO") }
        defer { BIO_free(bio) }
        guard body(bio) == 1 else { throw TLSError.drainingQueue("cannot encode the \(what) as PEM") }
        let count = Int(BIO_ctrl_pending(bio))
        var bytes = [UInt8](repeating: 0, count: count)
        let read = bytes.withUnsafeMutableBytes { BIO_read(bio, $0.baseAddress, Int32(count)) }
        guard read == count else { throw TLSError.drainingQueue("cannot read the \(what) PEM") }
        return bytes
    }

    /// Creates or truncates `path` with `mode` (also forced on an existing file) and writes `bytes`.
    private static func writeFile(_ path: String, _ bytes: [UInt8], mode: mode_t) throws(TLSError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode)
        guard fd >= 0 else { throw TLSError("cannot write \(path): \(TLSError.errnoText(errno))") }
        defer { _ = close(fd) }
        guard fchmod(fd, mode) == 0 else { throw TLSError("cannot chmod \(path): \(TLSError.errnoText(errno))") }
        var offset = 0
        while offset < bytes.count {
            // `!`: the array is not empty inside this loop, so it has a base address.
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw TLSError("cannot write \(path): \(TLSError.errnoText(errno))")
            }
            offset += written
        }
    }
}
