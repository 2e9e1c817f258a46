// `berth login` and `berth logout`, as `az acr login` (research/registries.md §3.6): trade a user
// name and password for a refresh token at POST /oauth2/exchange, then either print it
// (--expose-token, for `docker login -u 00000000-0000-0000-0000-000000000000`) or store it in the
// docker config.json that docker, oras, crane and skopeo read (docker-login.ts).
//
//   GET /v2/ without credentials → 401 WWW-Authenticate: Bearer realm="<base>/oauth2/token",service="<svc>"
//   POST <base>/oauth2/exchange  grant_type=password&username&password&service=<svc>  → {"refresh_token", "expires_in"}
// The realm and service come from the challenge, as az reads them; a server that sends none gets
// <server>/oauth2/exchange and its host:port as the service.
//
// The password and the token go to the server and to stdout or the config file, never into a message.
import { homedir } from "node:os";
import { z } from "zod";
import { Command, Option } from "@commander-js/extra-typings";
import { BerthClient, CliError, connectionFailure, displayServer, handled, passwordOption, passwordStdinOption, readAllStdin, serverUrl, skipTlsVerification, transportOptions, type TransportFlags } from "./client.ts";
import { dockerConfigPath, removeLogin, saveLogin, ZERO_GUID } from "./docker-login.ts";
import { printJson, printLine } from "./output.ts";
import { promptHidden, promptLine } from "./prompt.ts";
import { outputOption } from "./store-options.ts";

/** POST /oauth2/exchange: the token service, not /api, so outside the wire contract; only these two fields are read. */
const ExchangeAnswer = z.object({ refresh_token: z.string().optional(), expires_in: z.number().optional() }).nullable();

/** The positional server, or --server, or BERTH_SERVER. */
function chooseServer(command: "login" | "logout", positional: string | undefined, flag: string | undefined, transport: TransportFlags): URL {
  if (positional !== undefined && flag !== undefined && serverUrl(positional, transport).href !== serverUrl(flag, transport).href) {
    throw new CliError(`two servers given (${positional} and --server ${flag}): give one`);
  }
  const text = positional ?? flag ?? (process.env.BERTH_SERVER || undefined);
  if (text === undefined) throw new CliError(`which Berth? give its address, e.g. \`berth ${command} localhost:5000\`, or set BERTH_SERVER`);
  return serverUrl(text, transport);
}

/** `Bearer realm="…",service="…"` → its parameters (lower-case names). */
export function challengeParameters(header: string): Record<string, string> {
  const found: Record<string, string> = {};
  if (!/^\s*bearer\s/i.test(header)) return found;
  for (const match of header.matchAll(/([a-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/gi)) {
    found[match[1]!.toLowerCase()] = match[2] !== undefined ? match[2].replace(/\\(.)/g, "$1") : (match[3] ?? "");
  }
  return found;
}

/** Where to exchange, and for which service: from the /v2/ challenge, else the server itself. */
async function tokenService(server: URL, insecure: boolean): Promise<{ base: URL; service: string }> {
  const fallback = { base: server, service: server.host };
  if (insecure) skipTlsVerification();
  let res: Response;
  try {
    res = await fetch(new URL(`${server.pathname.replace(/\/$/, "")}/v2/`, server.origin), { headers: { "user-agent": "berth-cli" } });
  } catch (err) {
    throw connectionFailure(err, displayServer(server));
  }
  await res.body?.cancel();
  const challenge = challengeParameters(res.headers.get("www-authenticate") ?? "");
  if (res.status !== 401 || !challenge.realm) return fallback;
  let realm: URL;
  try {
    realm = new URL(challenge.realm);
  } catch {
    return fallback;
  }
  if (!/\/oauth2\/token\/?$/.test(realm.pathname)) return { ...fallback, service: challenge.service || server.host };
  return { base: serverUrl(`${realm.origin}${realm.pathname.replace(/\/oauth2\/token\/?$/, "")}`), service: challenge.service || server.host };
}

async function signInDetails(options: { username?: string; password?: string; passwordStdin?: boolean }): Promise<{ username: string; password: string }> {
  const username =
    options.username ??
    (process.env.BERTH_USERNAME || undefined) ??
    (await promptLine("Username: ", "no user name: pass -u/--username or set BERTH_USERNAME"));
  if (username === "") throw new CliError("the user name is empty");
  let password = options.password;
  if (options.passwordStdin) password = (await readAllStdin('echo "$PW" | berth login <server> -u <user> --password-stdin')).replace(/\r?\n$/, "");
  password ??= process.env.BERTH_PASSWORD || undefined;
  password ??= await promptHidden("Password: ", "no terminal to ask for the password on: pipe it in with --password-stdin");
  if (password === "") throw new CliError("the password is empty");
  return { username, password };
}

const loginCommand = transportOptions(new Command("login"))
  .description("sign in and store a refresh token in the docker config.json (docker, oras, crane, skopeo use it); --expose-token prints it instead")
  .argument("[server]", "Berth's address, e.g. localhost:5000 (or --server, or BERTH_SERVER)")
  .addOption(new Option("--server <url>", "Berth's URL, e.g. http://localhost:5000; a bare host:port is http for localhost, else https (env BERTH_SERVER)"))
  .addOption(new Option("-u, --username <name>", "user, service principal ID or token name (env BERTH_USERNAME) [default: asked on a terminal]"))
  .addOption(passwordOption())
  .addOption(passwordStdinOption().conflicts("password"))
  .addOption(new Option("--expose-token", "print {accessToken, loginServer, username} and store nothing, like az acr login --expose-token"))
  .addOption(outputOption())
  .addHelpText(
    "after",
    `
Examples:
  berth login localhost:5000 -u alice                      # asks for the password
  printf '%s' "$PW" | berth login --server https://registry.example.com -u ci --password-stdin
  TOKEN=$(berth login localhost:5000 -u alice --expose-token | jq -r .accessToken)
  echo "$TOKEN" | helm registry login localhost:5000 -u ${ZERO_GUID} --password-stdin

The config.json is $DOCKER_CONFIG/config.json, else ~/.docker/config.json; \`berth logout\` removes the entry.
The stored token expires (3 hours by default): run berth login again then.`,
  )
  .action(
    handled(async (positional, options) => {
      const server = chooseServer("login", positional, options.server, options);
      const { username, password } = await signInDetails(options);
      const insecure = options.insecure === true;
      const { base, service } = await tokenService(server, insecure);
      const exchange = new BerthClient({ server: base, credentials: null, insecure });
      const answer = await exchange.json(ExchangeAnswer, "POST", ["oauth2", "exchange"], {
        form: { grant_type: "password", username, password, service },
        explain: {
          401: `sign-in refused by ${displayServer(server)}: wrong user name or password, or the identity is disabled or expired`,
          404: `${displayServer(base)} has no token service (POST /oauth2/exchange answered 404): is this Berth with token authentication?`,
        },
      });
      const token = answer?.refresh_token;
      if (!token) throw new CliError(`${displayServer(base)} answered the sign-in without a refresh_token: is this Berth?`);
      const hours = answer.expires_in ? ` It expires in ${Math.round((answer.expires_in / 3600) * 10) / 10} h.` : "";

      if (options.exposeToken) {
        printJson({ accessToken: token, loginServer: server.host, username: ZERO_GUID });
        process.stderr.write(
          `Use the accessToken as the password of user ${ZERO_GUID}, e.g.\n` +
            `  docker login ${server.host} -u ${ZERO_GUID} --password-stdin\n` +
            `  helm registry login ${server.host} -u ${ZERO_GUID} --password-stdin\n` +
            `  oras login ${server.host} -u ${ZERO_GUID} --password-stdin\n` +
            `with the token on stdin.${hours}\n`,
        );
        return;
      }
      const saved = await saveLogin(dockerConfigPath(process.env, homedir()), server, ZERO_GUID, token);
      if (saved.warning) process.stderr.write(`warning: ${saved.warning}\n`);
      if (options.output === "json") return printJson({ loginServer: saved.key, username: ZERO_GUID, configFile: saved.path });
      process.stderr.write(`Stored the token for ${saved.key} in ${saved.path}.${hours}\n`);
      printLine("Login Succeeded");
    }),
  );

const logoutCommand = transportOptions(new Command("logout"))
  .description("remove the login `berth login` stored in the docker config.json for a server")
  .argument("[server]", "Berth's address, e.g. localhost:5000")
  .addOption(new Option("--server <url>", "Berth's address (env BERTH_SERVER)"))
  .addOption(outputOption())
  .addHelpText("after", `\nExample:\n  berth logout localhost:5000\n  DOCKER_CONFIG=/tmp/ci-docker berth logout --server https://registry.example.com`)
  .action(
    handled(async (positional, options) => {
      const server = chooseServer("logout", positional, options.server, options);
      const path = dockerConfigPath(process.env, homedir());
      const removed = await removeLogin(path, server);
      if (options.output === "json") return printJson({ loginServer: server.host, removed, configFile: path });
      printLine(removed.length > 0 ? `Removed login credentials for ${server.host} from ${path}` : `Not logged in to ${server.host} (nothing in ${path})`);
    }),
  );

export { loginCommand, logoutCommand };
