package main

import (
	"bufio"
	"crypto/ed25519"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// keygen prints a new Ed25519 key pair for cryptosign: the public key goes
// into realms[].auth.cryptosign.principals.<authid>.authorized_keys, the
// private key (seed) to the client.
func keygen(stdout, stderr io.Writer) int {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		fmt.Fprintln(stderr, "switchboard keygen:", err)
		return 1
	}
	fmt.Fprintf(stdout, "public key:  %s\nprivate key: %s\n", hex.EncodeToString(pub), hex.EncodeToString(priv.Seed()))
	return 0
}

// hashSecret derives a salted WAMP-CRA secret from a password read from
// standard input (not the command line, which shells remember): it prints
// the salt, iterations, keylen and the derived key for the config.
func hashSecret(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hash-secret", flag.ContinueOnError)
	fs.SetOutput(stderr)
	iterations := fs.Int("iterations", 100000, "PBKDF2 iterations")
	keylen := fs.Int("keylen", 32, "derived key length in bytes")
	salt := fs.String("salt", "", "salt (default: 16 random bytes, hex)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintln(stderr, "switchboard hash-secret:", err)
		return 1
	}
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		fmt.Fprintln(stderr, "switchboard hash-secret: give the secret on standard input")
		return 2
	}
	if *salt == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		*salt = hex.EncodeToString(b[:])
	}
	dk, err := pbkdf2.Key(sha256.New, password, []byte(*salt), *iterations, *keylen)
	if err != nil {
		fmt.Fprintln(stderr, "switchboard hash-secret:", err)
		return 1
	}
	fmt.Fprintf(stdout, "salt: %s\niterations: %d\nkeylen: %d\nsecret: %s\n", *salt, *iterations, *keylen, base64.StdEncoding.EncodeToString(dk))
	return 0
}
