%%% distgate_epmd_config: where distgate_epmd's settings come from.
%%%
%%% Every setting has a command-line form and an application-environment
%%% key (sys.config, config/config.exs, config/runtime.exs, or
%%% `-distgate_epmd Key Value` on the command line); the command line wins.
%%%
%%%   key            command line                       default
%%%   epmd_port      -epmd_port P, ERL_EPMD_PORT=P      4369
%%%   remote         -distgate_epmd_remote Host:Port    none: lookups at the local EPMD
%%%   remote_ssl     -distgate_epmd_ssl File            [] (ssl client options)
%%%   register       -                                  every -proto_dist protocol
%%%   accept         -                                  the -proto_dist list, in order
%%%
%%% net_kernel calls the epmd_module while kernel starts, before any other
%%% application: load/0 loads this application's spec then (merging
%%% sys.config and -distgate_epmd arguments into its environment), so the
%%% registration keys (epmd_port, register) are read from the boot's
%%% configuration. The lookup keys (remote, remote_ssl, accept) are read at
%%% every lookup, so values set later (config/runtime.exs) apply too.
-module(distgate_epmd_config).

-export([load/0, epmd_port/0, erl_epmd_port/0, remote/0, register/0, accept/1]).

-define(APP, distgate_epmd).
-define(DEFAULT_EPMD_PORT, 4369).

%% Load the application spec if nobody has: in a release it already is
%% (the boot script loads every application before starting kernel); with
%% plain `erl -pa .../ebin` this reads distgate_epmd.app, sys.config and
%% `-distgate_epmd Key Value` arguments. Without a .app file (a bare .beam)
%% only the command line configures the module.
-spec load() -> ok.
load() ->
    _ = application:load(?APP),
    ok.

%% The local EPMD's port: -epmd_port (which erl sets from ERL_EPMD_PORT),
%% else the environment variable itself, else the application's
%% epmd_port, else 4369.
-spec epmd_port() -> inet:port_number().
epmd_port() ->
    case erl_epmd_arg() of
        {ok, Port} -> Port;
        error ->
            case application:get_env(?APP, epmd_port) of
                {ok, Port} when is_integer(Port), Port > 0, Port < 65536 -> Port;
                {ok, Bad} -> error({distgate_epmd, {bad_config, epmd_port, Bad}});
                undefined -> ?DEFAULT_EPMD_PORT
            end
    end.

%% The port kernel's erl_epmd uses: it knows -epmd_port only.
-spec erl_epmd_port() -> inet:port_number().
erl_epmd_port() ->
    case erl_epmd_arg() of
        {ok, Port} -> Port;
        error -> ?DEFAULT_EPMD_PORT
    end.

erl_epmd_arg() ->
    Arg = case init:get_argument(epmd_port) of
              {ok, [[P | _] | _]} -> P;
              _ -> os:getenv("ERL_EPMD_PORT", "")
          end,
    try list_to_integer(Arg) of
        Port when Port > 0, Port < 65536 -> {ok, Port};
        _ -> error
    catch
        error:badarg -> error
    end.

%% The remote gateway to look nodes up at, and the ssl client options to
%% reach it with. The gateway's certificate is verified unless the options
%% say {verify, verify_none}: OTP 25's ssl does not verify by default, so
%% {verify, verify_peer} is added, and a CA ({cacertfile, File} or
%% {cacerts, DERs}) is required.
-spec remote() -> none | {ok, string(), inet:port_number(), [ssl:tls_client_option()]} |
                  {error, {atom(), string()}}.
remote() ->
    case remote_address() of
        none -> none;
        {error, _} = Error -> Error;
        {ok, Host, Port} ->
            case remote_ssl() of
                {ok, Opts} ->
                    case verified(Opts) of
                        {ok, Verified} -> {ok, Host, Port, Verified};
                        {error, Why} -> {error, {remote_ssl, Host ++ ":" ++ integer_to_list(Port) ++ ": " ++ Why}}
                    end;
                {error, _} = Error -> Error
            end
    end.

remote_address() ->
    case init:get_argument(distgate_epmd_remote) of
        {ok, [[HostPort | _] | _]} -> host_port(HostPort);
        _ ->
            case application:get_env(?APP, remote) of
                undefined -> none;
                {ok, Unset} when Unset =:= none; Unset =:= nil; Unset =:= undefined;
                                 Unset =:= ""; Unset =:= <<>> -> none;
                {ok, {Host, Port}} when is_integer(Port) -> {ok, to_list(Host), Port};
                {ok, HostPort} -> host_port(to_list(HostPort))
            end
    end.

%% "host:port", "1.2.3.4:port" or "[::1]:port".
host_port(HostPort) ->
    case string:split(HostPort, ":", trailing) of
        [Host0, PortS] when Host0 =/= "" ->
            Host = string:trim(string:trim(Host0, leading, "["), trailing, "]"),
            try list_to_integer(PortS) of
                Port when Port > 0, Port < 65536 -> {ok, Host, Port};
                _ -> bad_remote(HostPort)
            catch
                error:badarg -> bad_remote(HostPort)
            end;
        _ ->
            bad_remote(HostPort)
    end.

bad_remote(HostPort) ->
    {error, {remote, lists:flatten(io_lib:format("~tp is not host:port", [HostPort]))}}.

remote_ssl() ->
    case init:get_argument(distgate_epmd_ssl) of
        {ok, [[File | _] | _]} ->
            case file:consult(File) of
                {ok, [Opts]} when is_list(Opts) -> {ok, Opts};
                {ok, _} -> {error, {remote_ssl, File ++ ": want one list of ssl client options"}};
                {error, Reason} -> {error, {remote_ssl, File ++ ": " ++ file:format_error(Reason)}}
            end;
        _ ->
            case application:get_env(?APP, remote_ssl, []) of
                Opts when is_list(Opts) -> {ok, Opts};
                Bad -> {error, {remote_ssl, lists:flatten(io_lib:format("~tp is not a list of ssl client options", [Bad]))}}
            end
    end.

verified(Opts) ->
    case proplists:get_value(verify, Opts) of
        verify_none ->
            {ok, Opts};
        _ ->
            case lists:any(fun(K) -> proplists:is_defined(K, Opts) end, [cacertfile, cacerts]) of
                true ->
                    {ok, [{verify, verify_peer} | proplists:delete(verify, Opts)]};
                false ->
                    {error, "remote lookups verify the gateway's certificate, and the ssl options give "
                            "no CA to verify the gateway with: add {cacertfile, File} (the gateway's "
                            "identity.crt) or {cacerts, DERs}, or turn verification off with "
                            "{verify, verify_none}"}
            end
    end.

%% The protocols whose listeners are registered with distgate: the
%% register key, or all of them. A listener left out still listens; the
%% EPMD does not advertise it.
-spec register() -> all | [string()].
register() ->
    case application:get_env(?APP, register) of
        {ok, Protos} when is_list(Protos) -> [to_list(P) || P <- Protos];
        {ok, Bad} -> error({distgate_epmd, {bad_config, register, Bad}});
        undefined -> all
    end.

%% The protocols this node dials, preferred first (LOOKUP_X's ACCEPT): the
%% accept key, kept to those of Protos (net_kernel has no module for the
%% others), or Protos.
-spec accept([string()]) -> [string()].
accept(Protos) ->
    case application:get_env(?APP, accept) of
        {ok, Want} when is_list(Want) ->
            [P || P <- [to_list(W) || W <- Want], lists:member(P, Protos)];
        _ ->
            Protos
    end.

to_list(A) when is_atom(A) -> atom_to_list(A);
to_list(B) when is_binary(B) -> unicode:characters_to_list(B);
to_list(L) when is_list(L) -> L.
