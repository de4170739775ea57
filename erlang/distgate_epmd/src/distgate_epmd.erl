%%% distgate_epmd: an -epmd_module for OTP 25+ nodes that registers every
%%% distribution listener of the node with distgate's EPMD and looks nodes
%%% up by their full name (the multi-transport extension of epmd/PROTOCOL.md).
%%% Against a stock epmd it falls back to kernel's erl_epmd for the node's life.
%%%
%%% It is the module of the distgate_epmd application: add the application
%%% to a release (rebar3 or mix) and put in vm.args
%%%   -epmd_module distgate_epmd
%%%   -start_epmd false
%%%   -proto_dist inet_tcp inet_tls
%%% (-start_epmd false when distgate runs the EPMD: otherwise erl starts the
%%% stock epmd on the same port first.) Settings (the EPMD port, a remote
%%% gateway for lookups and its ssl options, the transports to register and
%%% to accept) come from the application environment or the command line:
%%% see distgate_epmd_config and README.md next to src/.
-module(distgate_epmd).
-behaviour(gen_server).

%% The -epmd_module callbacks (OTP 25).
-export([start_link/0, listen_port_please/2,
         register_node/2, register_node/3,
         address_please/3, port_please/2, port_please/3,
         names/0, names/1]).

%% gen_server callbacks.
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

%% Every socket operation is bounded. Registration: 10 s, as erl_epmd waits
%% for ALIVE2 replies. Lookups: 5 s, as select runs inside net_kernel and
%% do_setup has net_setuptime (7 s by default) in all.
-define(TIMEOUT, 10000).
-define(LOOKUP_TIMEOUT, 5000).
%% OTP's erl_epmd re-registers every 2 s after losing its EPMD connection.
-define(RECONNECT_TIME, 2000).
-define(EXT_VERSION, 1).
-define(MAX_REPLY, (1 bsl 20)).
%% OTP 23+ speaks only version 6 of the distribution handshake.
-define(DIST_VERSION, 6).

%% Extension commands and reply codes (epmd/PROTOCOL.md section 3).
-define(REGISTER_X, $R).
-define(ADD_TRANSPORTS, $T).
-define(LOOKUP_X, $L).
-define(REGISTER_X_RESP, $r).
-define(ADD_TRANSPORTS_RESP, $t).
-define(LOOKUP_X_RESP, $l).

-define(ST_OK, 0).
-define(ST_NAME_IN_USE, 1).
-define(ST_NOT_FOUND, 3).
-define(ST_NO_ROUTE, 7).

-record(transport, {proto :: binary(),
                    port :: inet:port_number(),
                    family :: 4 | 6 | other,
                    addr :: inet:ip_address() | undefined}).

-record(state, {name :: atom() | string() | undefined,
                host :: string() | undefined,   % from listen_port_please/2
                protos :: [string()],           % the -proto_dist list
                register :: all | [string()],   % the protocols to register
                listening = [] :: [string()],   % net_kernel's listeners so far
                count = 0 :: non_neg_integer(), % register_node calls so far
                %% unknown: nothing registered yet; extension: registered
                %% with REGISTER_X; classic: delegating to erl_epmd for life.
                mode = unknown :: unknown | extension | classic,
                socket :: gen_tcp:socket() | undefined,
                creation :: non_neg_integer() | undefined,
                transports = [] :: [#transport{}]}).

%%%===================================================================
%%% -epmd_module callbacks
%%%===================================================================

%% erl_distribution starts EpmdMod:start_link() under net_sup, before
%% net_kernel; this process owns the registration socket, so the
%% registration ends with it.
-spec start_link() -> {ok, pid()} | ignore | {error, term()}.
start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% net_kernel (inet_tcp_dist:gen_listen) calls listen_port_please(Name, Host)
%% right before each listen: it is the only registration-time call that
%% sees the host part, so we remember it for REGISTER_X. The port itself is
%% erl_epmd's answer: 0 (any, or inet_dist_listen_min..max) unless
%% -erl_epmd_port says otherwise.
-spec listen_port_please(Name, Host) -> {ok, Port} when
      Name :: atom() | string(),
      Host :: atom() | string() | inet:ip_address(),
      Port :: inet:port_number().
listen_port_please(Name, Host) ->
    _ = (catch gen_server:call(?MODULE, {listening, Name, Host}, ?TIMEOUT)),
    erl_epmd:listen_port_please(Name, Host).

-spec register_node(Name, Port) -> {ok, Creation} | {error, term()} when
      Name :: atom() | string(),
      Port :: inet:port_number(),
      Creation :: integer().
register_node(Name, Port) ->
    register_node(Name, Port, inet_tcp).

%% Called once per -proto_dist module, in order, right after its listen.
%% Driver is inet_tcp (or inet6_tcp) for TLS too; the caller's stack tells
%% TLS apart (inet_tls_dist:gen_listen is on it).
-spec register_node(Name, Port, Driver) -> {ok, Creation} | {error, term()} when
      Name :: atom() | string(),
      Port :: inet:port_number(),
      Driver :: inet_tcp | inet6_tcp | inet | inet6 | atom(),
      Creation :: integer().
register_node(Name, Port, Driver0) ->
    Hint = listen_hint(caller_frames()),
    Driver = driver(Driver0),
    gen_server:call(?MODULE, {register, Name, Port, Driver, Hint}, infinity).

%% Called twice per outgoing connection, in the caller's process: from
%% inet_tcp_dist:gen_select (net_kernel choosing a dist module, for TCP and
%% TLS alike) and from the chosen module's do_setup. The 4-tuple answer
%% makes OTP skip port_please/2.
-spec address_please(Name, Host, Family) ->
          {ok, inet:ip_address()} |
          {ok, inet:ip_address(), inet:port_number(), non_neg_integer()} |
          {error, term()} when
      Name :: atom() | string(),
      Host :: atom() | string() | inet:ip_address(),
      Family :: inet | inet6.
address_please(Name, Host, Family) ->
    Want = wanted(caller_frames(), Family),
    try
        case mode() of
            classic -> erl_epmd:address_please(Name, Host, Family);
            _ -> resolve(Want, Name, Host, Family)
        end
    catch
        %% Never crash the caller: in select it is net_kernel itself.
        Class:Reason -> {error, {distgate_epmd, Class, Reason}}
    end.

%% Only called when address_please/3 answered {ok, IP} (the fallback):
%% the classic PORT_PLEASE2, as erl_epmd does it.
-spec port_please(Name, Host) -> {port, Port, Version} | noport | closed | {error, term()} when
      Name :: atom() | string(),
      Host :: atom() | string() | inet:ip_address(),
      Port :: inet:port_number(),
      Version :: non_neg_integer().
port_please(Name, Host) ->
    erl_epmd:port_please(Name, Host).

-spec port_please(Name, Host, Timeout) -> {port, Port, Version} | noport | closed | {error, term()} when
      Name :: atom() | string(),
      Host :: atom() | string() | inet:ip_address(),
      Timeout :: timeout(),
      Port :: inet:port_number(),
      Version :: non_neg_integer().
port_please(Name, Host, Timeout) ->
    erl_epmd:port_please(Name, Host, Timeout).

%% net_adm:names/0,1: the classic NAMES, which distgate answers too.
-spec names() -> {ok, [{Name, Port}]} | {error, term()} when
      Name :: string(), Port :: inet:port_number().
names() ->
    erl_epmd:names().

-spec names(Host) -> {ok, [{Name, Port}]} | {error, term()} when
      Host :: atom() | string() | inet:ip_address(),
      Name :: string(), Port :: inet:port_number().
names(Host) ->
    erl_epmd:names(Host).

%%%===================================================================
%%% gen_server: the registration
%%%===================================================================

-spec init([]) -> {ok, #state{}}.
init([]) ->
    persistent_term:put({?MODULE, mode}, unknown),
    persistent_term:put({?MODULE, listeners}, []),
    %% kernel is starting: no file server yet, so the remote settings
    %% (an ssl options file) are read and checked at each lookup.
    ok = distgate_epmd_config:load(),
    {ok, #state{protos = proto_dist(), register = distgate_epmd_config:register()}}.

-spec handle_call(term(), gen_server:from(), #state{}) -> {reply, term(), #state{}}.
handle_call({listening, Name, Host}, _From, S) ->
    {reply, ok, S#state{name = Name, host = host_string(Host)}};
handle_call({register, Name, Port, Driver, Hint}, _From, S0) ->
    S = S0#state{count = S0#state.count + 1},
    Proto = pick_proto(S#state.count, S#state.protos, Driver, Hint),
    T = transport(Proto, Port, Driver),
    {Reply, S1} = case S#state.mode =/= classic andalso not registered(Proto, S) of
                      true -> unregistered(Name, S);
                      false -> register(Name, Port, Driver, T, S)
                  end,
    {reply, Reply, listening(Reply, Proto, S1)};
handle_call(_Other, _From, S) ->
    {reply, {error, badarg}, S}.

-spec handle_cast(term(), #state{}) -> {noreply, #state{}}.
handle_cast(_Msg, S) ->
    {noreply, S}.

-spec handle_info(term(), #state{}) -> {noreply, #state{}}.
handle_info({tcp_closed, Sock}, #state{socket = Sock} = S) ->
    {noreply, lost(S)};
handle_info({tcp_error, Sock, _Reason}, #state{socket = Sock} = S) ->
    {noreply, lost(S)};
handle_info({tcp, Sock, _Unexpected}, #state{socket = Sock} = S) ->
    %% The daemon sends nothing unasked; keep watching for the close.
    _ = inet:setopts(Sock, [{active, once}]),
    {noreply, S};
handle_info(reregister, #state{mode = extension, socket = undefined} = S) ->
    {noreply, reregister(S)};
handle_info(_Msg, S) ->
    {noreply, S}.

-spec terminate(term(), #state{}) -> ok.
terminate(_Reason, #state{socket = undefined}) ->
    ok;
terminate(_Reason, #state{socket = Sock}) ->
    _ = gen_tcp:close(Sock),
    ok.

%%%===================================================================
%%% Registration
%%%===================================================================

registered(_Proto, #state{register = all}) -> true;
registered(Proto, #state{register = Protos}) -> lists:member(Proto, Protos).

%% A listener that the register key leaves out: net_kernel listens on it,
%% distgate does not advertise it. Its creation is the registration's, or
%% -1 before any (net_kernel then picks one, as without an EPMD).
unregistered(Name, #state{creation = undefined} = S) ->
    {{ok, -1}, S#state{name = Name}};
unregistered(Name, #state{creation = Creation} = S) ->
    {{ok, Creation}, S#state{name = Name}}.

%% net_kernel keeps a listener whose registration succeeded; select/3
%% counts them, registered with distgate or not.
listening({ok, _}, Proto, #state{listening = Ls} = S) ->
    set_listeners(Ls ++ [Proto]),
    S#state{listening = Ls ++ [Proto]};
listening(_Refused, _Proto, S) ->
    S.

register(Name, Port, Driver, _T, #state{mode = classic} = S) ->
    {erl_epmd:register_node(Name, Port, Driver), S};
register(Name, Port, Driver, T, #state{mode = unknown} = S) ->
    case register_x(Name, S#state.host, [T]) of
        {ok, Sock, Creation} ->
            persistent_term:put({?MODULE, mode}, extension),
            {{ok, Creation}, S#state{name = Name, mode = extension, socket = Sock,
                                     creation = Creation, transports = [T]}};
        stock ->
            case classic_port() of
                ok ->
                    %% A stock epmd closed on REGISTER_X: behave exactly
                    %% like stock OTP for the node's life (a second
                    %% listener gets refused).
                    S1 = classic(S#state{name = Name}),
                    {erl_epmd:register_node(Name, Port, Driver), S1};
                {error, _} = Error ->
                    {Error, S}
            end;
        {error, Reason} ->
            {no_epmd(Reason), S}
    end;
register(_Name, _Port, _Driver, T, #state{mode = extension, socket = undefined} = S) ->
    %% Re-registering: the transport goes with the next REGISTER_X.
    Ts = S#state.transports ++ [T],
    {{ok, S#state.creation}, S#state{transports = Ts}};
register(_Name, _Port, _Driver, T, #state{mode = extension, socket = Sock} = S) ->
    Ts = S#state.transports ++ [T],
    case add_transports(Sock, [T]) of
        ok ->
            {{ok, S#state.creation}, S#state{transports = Ts}};
        {status, St, Msg} ->
            %% Refused (bad request): the registration is as it was and
            %% net_kernel drops this listener.
            {{error, {distgate_epmd, status_name(St), Msg}}, S};
        {error, _} ->
            %% Connection lost: re-register everything, this one included.
            {{ok, S#state.creation}, lost(S#state{transports = Ts})}
    end.

%% What erl_epmd answers when it cannot register: {ok, -1} when the node
%% runs without an EPMD (-erl_epmd_port given), else the error.
no_epmd(Reason) ->
    case init:get_argument(erl_epmd_port) of
        {ok, _} -> {ok, -1};
        error -> {error, Reason}
    end.

%% kernel's erl_epmd, which takes over from a stock epmd, knows only
%% -epmd_port: a port set in the application environment alone would send
%% it to another EPMD than the one that answered.
classic_port() ->
    case {distgate_epmd_config:epmd_port(), distgate_epmd_config:erl_epmd_port()} of
        {Same, Same} ->
            ok;
        {Port, Other} ->
            logger:error("distgate_epmd: a stock epmd answers on port ~b (epmd_port in the "
                         "application environment); kernel's erl_epmd, which serves nodes "
                         "on a stock epmd, would use port ~b: give the port with -epmd_port "
                         "or ERL_EPMD_PORT instead", [Port, Other]),
            {error, {distgate_epmd, stock_epmd_port, Port}}
    end.

%% Switch to classic mode: kernel's erl_epmd, linked to this process, holds
%% the ALIVE2 registration (and re-registers by itself every 2 s).
classic(S) ->
    ensure_erl_epmd(),
    persistent_term:put({?MODULE, mode}, classic),
    S#state{mode = classic}.

ensure_erl_epmd() ->
    _ = case whereis(erl_epmd) of
            undefined -> erl_epmd:start_link();
            _ -> ok
        end,
    ok.

lost(#state{socket = Sock} = S) ->
    _ = Sock =/= undefined andalso gen_tcp:close(Sock),
    erlang:send_after(?RECONNECT_TIME, self(), reregister),
    S#state{socket = undefined}.

%% Re-register every transport, keeping the first creation (OTP ignores the
%% new one too). If a stock epmd replaced distgate, hand the first TCP
%% transport to erl_epmd and stay classic.
reregister(#state{name = Name, host = Host, transports = Ts} = S) ->
    case register_x(Name, Host, Ts) of
        {ok, Sock, _NewCreation} ->
            S#state{socket = Sock};
        stock ->
            #transport{port = Port, family = Fam} = classic_transport(Ts),
            Driver = case Fam of 6 -> inet6_tcp; _ -> inet_tcp end,
            case classic_port() of
                ok ->
                    ensure_erl_epmd(),
                    case erl_epmd:register_node(Name, Port, Driver) of
                        {ok, _} -> classic(S);
                        _ -> retry(S)
                    end;
                {error, _} ->
                    retry(S)
            end;
        {error, _} ->
            retry(S)
    end.

retry(S) ->
    erlang:send_after(?RECONNECT_TIME, self(), reregister),
    S.

%% The transport a classic client can dial, as PORT_PLEASE2 reports it.
classic_transport(Ts) ->
    case [T || #transport{proto = P} = T <- Ts, P =:= <<"inet_tcp">> orelse P =:= <<"inet6_tcp">>] of
        [T | _] -> T;
        [] -> hd(Ts)
    end.

%% REGISTER_X on a new connection to the local EPMD. Returns the socket
%% (now watched with {active, once}), 'stock' when the daemon closed
%% without a byte, or an error.
register_x(Name, Host, Ts) ->
    Payload = [?REGISTER_X, ?EXT_VERSION, field(1, to_bin(Name)),
               case Host of
                   undefined -> [];
                   _ -> field(2, to_bin(Host))
               end
               | [field(3, encode_transport(T)) || T <- Ts]],
    case connect_epmd(?TIMEOUT) of
        {ok, Sock} ->
            case request(Sock, Payload, ?REGISTER_X_RESP, ?TIMEOUT) of
                {ok, ?ST_OK, Body} ->
                    case {creation(Body), watch(Sock)} of
                        {{ok, Creation}, ok} ->
                            {ok, Sock, Creation};
                        {{ok, _}, {error, _} = Error} ->
                            close(Error, Sock);
                        {error, _} ->
                            close({error, {distgate_epmd, bad_reply}}, Sock)
                    end;
                {ok, ?ST_NAME_IN_USE, _} ->
                    close({error, duplicate_name}, Sock);
                {ok, St, Body} ->
                    close({error, {distgate_epmd, status_name(St), message(Body)}}, Sock);
                Other ->            % stock | {error, _}
                    close(Other, Sock)
            end;
        Error ->
            Error
    end.

%% ADD_TRANSPORTS on the registration socket, which is in {active, once}:
%% go passive, ask, and watch again.
add_transports(Sock, Ts) ->
    Payload = [?ADD_TRANSPORTS, ?EXT_VERSION | [field(3, encode_transport(T)) || T <- Ts]],
    Reply = case inet:setopts(Sock, [{active, false}]) of
                ok -> request(Sock, Payload, ?ADD_TRANSPORTS_RESP, ?TIMEOUT);
                {error, _} = Error -> Error
            end,
    case Reply of
        {ok, St, Body} ->
            case {St, watch(Sock)} of
                {?ST_OK, ok} -> ok;
                {_, ok} -> {status, St, message(Body)};
                {_, {error, _} = Error2} -> Error2
            end;
        stock ->
            {error, closed};
        {error, _} = Error3 ->
            Error3
    end.

%% Watch the registration socket for its close ({tcp_closed, Sock}).
watch(Sock) ->
    inet:setopts(Sock, [{active, once}]).

%% The -proto_dist module behind the Nth registration: the Nth entry of the
%% -proto_dist list (net_kernel registers them in that order), unless the
%% caller's stack says otherwise for one of OTP's own modules (an earlier
%% listener failed to listen, say).
pick_proto(N, Protos, Driver, Hint) when N =< length(Protos) ->
    Nth = lists:nth(N, Protos),
    case {kind(Nth), Hint} of
        {Kind, Kind} -> Nth;
        {_, unknown} -> Nth;
        {other, _} -> Nth;
        {_, _} -> default_proto(Hint, Driver)
    end;
pick_proto(_N, _Protos, Driver, Hint) ->
    default_proto(Hint, Driver).

kind("inet_tcp") -> tcp;
kind("inet6_tcp") -> tcp;
kind("inet_tls") -> tls;
kind("inet6_tls") -> tls;
kind(_) -> other.

default_proto(tls, inet6_tcp) -> "inet6_tls";
default_proto(tls, _) -> "inet_tls";
default_proto(_, inet6_tcp) -> "inet6_tcp";
default_proto(_, _) -> "inet_tcp".

%% At register time: inet_tls_dist:gen_listen (non-tail) calls
%% inet_tcp_dist:gen_listen, which calls register_node.
listen_hint(Frames) ->
    case {lists:keymember(inet_tls_dist, 1, Frames), lists:keymember(inet_tcp_dist, 1, Frames)} of
        {true, _} -> tls;
        {false, true} -> tcp;
        {false, false} -> unknown
    end.

transport(Proto, Port, Driver) ->
    Family = case Proto of
                 "inet6_" ++ _ -> 6;
                 "inet_" ++ _ -> 4;
                 _ when Driver =:= inet6_tcp -> 6;
                 _ -> 4
             end,
    #transport{proto = list_to_binary(Proto), port = Port, family = Family,
               addr = listen_addr(Family)}.

%% The address the node listens on when kernel's inet_dist_use_interface
%% pins one; absent means "wherever the asker reached the EPMD".
listen_addr(Family) ->
    case application:get_env(kernel, inet_dist_use_interface) of
        {ok, {0, 0, 0, 0}} -> undefined;
        {ok, {0, 0, 0, 0, 0, 0, 0, 0}} -> undefined;
        {ok, {_, _, _, _} = IP} when Family =:= 4 -> IP;
        {ok, {_, _, _, _, _, _, _, _} = IP} when Family =:= 6 -> IP;
        _ -> undefined
    end.

set_listeners(Protos) ->
    persistent_term:put({?MODULE, listeners}, Protos).

%%%===================================================================
%%% Lookup
%%%===================================================================

%% Which endpoint the caller wants, from its stack (OTP 25):
%% - net_kernel:select_mod asks each listener module in turn, newest
%%   listener first; inet_tls_dist:select tail-calls inet_tcp_dist:gen_select,
%%   so the stack does not say which module asks: see select/3;
%% - inet_tls_dist:do_setup (also used by inet6_tls_dist) wants TLS;
%% - inet_tcp_dist:do_setup wants TCP;
%% - anyone else gets the preferred endpoint among our protocols.
wanted(Frames, Family) ->
    case {lists:member({net_kernel, select_mod}, Frames),
          lists:keymember(inet_tls_dist, 1, Frames),
          lists:member({inet_tcp_dist, do_setup}, Frames)} of
        {true, _, _} -> select;
        {_, true, _} -> {proto, proto_name(tls, Family)};
        {_, _, true} -> {proto, proto_name(tcp, Family)};
        _ -> any
    end.

proto_name(tls, inet6) -> <<"inet6_tls">>;
proto_name(tls, _) -> <<"inet_tls">>;
proto_name(tcp, inet6) -> <<"inet6_tcp">>;
proto_name(tcp, _) -> <<"inet_tcp">>.

resolve(select, Name, Host, Family) ->
    select(Name, Host, Family);
resolve(Want, Name, Host, Family) ->
    Outcome = lookup(Name, Host, accept(Want)),
    strip(answer(Outcome, Want, Name, Host, Family)).

strip({ok, IP, Port, Vsn, _Proto}) -> {ok, IP, Port, Vsn};
strip(Other) -> Other.

%% net_kernel:select_mod(Node, Listeners) calls Mod:select(Node) for each
%% listener, newest first (its list is the reverse of -proto_dist), until
%% one says true, all in the net_kernel process. We count the calls in that
%% process' dictionary to know which module asks, look the node up once per
%% round, and say true only to the module of the node's preferred endpoint:
%% the first one in the reply whose protocol we listen on.
select(Name, Host, Family) ->
    case lists:reverse(listeners()) of
        [] -> strip(resolve(any, Name, Host, Family));
        Order -> select(Order, Name, Host, Family)
    end.

select(Order, Name, Host, Family) ->
    Key = {?MODULE, select, node_string(Name, Host)},
    {I, Outcome} = case get(Key) of
                       {J, O} when J =< length(Order) -> {J, O};
                       _ -> {1, lookup(Name, Host, accept(any))}
                   end,
    Asking = list_to_binary(lists:nth(I, Order)),
    Result = case answer(Outcome, any, Name, Host, Family) of
                 {ok, _, _, _, Asking} = R -> R;
                 {ok, _, _, _, _Other} -> {error, other_protocol};
                 R -> R
             end,
    case Result of
        {error, _} when I < length(Order) -> put(Key, {I + 1, Outcome});
        _ -> erase(Key)
    end,
    strip(Result).

%% Map a lookup outcome to address_please's answer, with the endpoint's
%% protocol as a fifth element (for select/3; strip/1 drops it).
answer(stock, _Want, Name, Host, Family) ->
    %% A stock epmd: resolve the host and let port_please/2 ask its epmd.
    erl_epmd:address_please(Name, Host, Family);
answer({error, _} = Error, _Want, _Name, _Host, _Family) ->
    Error;
answer({endpoints, Eps}, Want, _Name, Host, Family) ->
    Protos = case Want of
                 {proto, Wanted} -> [Wanted];
                 any -> [P || P <- accept(any), lists:member(binary_to_list(P), listeners())]
             end,
    Fam = case Family of inet6 -> 6; _ -> 4 end,
    case [Ep || #transport{proto = P, family = F} = Ep <- Eps,
                F =:= Fam, lists:member(P, Protos)] of
        [] ->
            {error, {no_endpoint, Protos}};
        [#transport{proto = P, port = Port, addr = Addr} | _] ->
            case endpoint_ip(Addr, Host, Family) of
                {ok, IP} -> {ok, IP, Port, ?DIST_VERSION, P};
                Error -> Error
            end
    end.

endpoint_ip(undefined, Host, Family) ->
    inet:getaddr(Host, Family);
endpoint_ip(IP, _Host, _Family) ->
    {ok, IP}.

%% ACCEPT: the protocols this node runs, the wanted one first.
accept({proto, P}) ->
    [P | [Q || Q <- accept(any), Q =/= P]];
accept(any) ->
    uniq([list_to_binary(P) || P <- distgate_epmd_config:accept(proto_dist())]).

%% The protocols net_kernel listens on (registered with distgate or not),
%% or the -proto_dist list when none is (a node started with -dist_listen
%% false).
listeners() ->
    case persistent_term:get({?MODULE, listeners}, []) of
        [] -> proto_dist();
        Ls -> Ls
    end.

%% LOOKUP_X "Name@Host" on a new connection to the local EPMD.
lookup(Name, Host, Accept) ->
    Payload = [?LOOKUP_X, ?EXT_VERSION,
               field(1, node_string(Name, Host)),
               [field(2, P) || P <- Accept],
               field(3, atom_to_binary(node(), utf8))],
    case distgate_epmd_config:remote() of
        none ->
            lookup_local(Payload);
        {ok, Host0, Port, SslOpts} ->
            lookup_remote(Payload, Host0, Port, SslOpts);
        {error, {Key, Why}} ->
            logger:error("distgate_epmd: ~ts: ~ts", [Key, Why]),
            {error, {distgate_epmd, Key, Why}}
    end.

lookup_local(Payload) ->
    case connect_epmd(?LOOKUP_TIMEOUT) of
        {ok, Sock} ->
            Reply = request(Sock, Payload, ?LOOKUP_X_RESP, ?LOOKUP_TIMEOUT),
            _ = gen_tcp:close(Sock),
            lookup_outcome(Reply);
        {error, econnrefused} ->
            stock;                      % no local EPMD: as stock OTP would
        {error, _} = Error ->
            Error
    end.

lookup_outcome(Reply) ->
    case Reply of
        {ok, ?ST_OK, Body} -> endpoints(Body);
        {ok, ?ST_NOT_FOUND, _} -> {error, nxdomain};
        {ok, ?ST_NO_ROUTE, _} -> stock;   % not ours to route: the classic lookup
        {ok, St, Body} -> {error, {distgate_epmd, status_name(St), message(Body)}};
        stock -> stock;
        {error, _} = Error -> Error
    end.

%% A lookup at a remote gateway's secure query port, over TLS with this
%% node's client certificate (epmd/PROTOCOL.md: the same request and reply
%% as on the local port). A refusal is an error, never a fallback.
lookup_remote(Payload, Host, Port, SslOpts) ->
    Opts = [binary, {packet, raw}, {active, false} | SslOpts],
    _ = ssl:start(),
    case ssl:connect(Host, Port, Opts, ?LOOKUP_TIMEOUT) of
        {ok, S} ->
            Reply = request({ssl, S}, Payload, ?LOOKUP_X_RESP, ?LOOKUP_TIMEOUT),
            _ = ssl:close(S),
            case lookup_outcome(Reply) of
                stock -> {error, {distgate_epmd, remote_refused, Host}};
                Outcome -> Outcome
            end;
        {error, Reason} ->
            {error, {distgate_epmd, remote, Host, Reason}}
    end.

endpoints(Body) ->
    try
        {endpoints, [decode_transport(V) || {1, V} <- decode_fields(Body)]}
    catch
        throw:malformed -> {error, {distgate_epmd, bad_reply}}
    end.

node_string(Name, Host) ->
    unicode:characters_to_binary([to_list(Name), $@, host_string(Host)]).

%%%===================================================================
%%% Wire: framing and fields (epmd/PROTOCOL.md sections 1 and 3.1)
%%%===================================================================

%% A new connection to the local EPMD: 127.0.0.1 (then ::1) on the port
%% distgate_epmd_config:epmd_port/0 says.
connect_epmd(Timeout) ->
    Opts = [binary, {packet, raw}, {active, false}, {nodelay, true},
            {send_timeout, Timeout}, {send_timeout_close, true}],
    Port = distgate_epmd_config:epmd_port(),
    case gen_tcp:connect({127, 0, 0, 1}, Port, [inet | Opts], Timeout) of
        {ok, _} = Ok ->
            Ok;
        {error, econnrefused} = Error ->
            case gen_tcp:connect({0, 0, 0, 0, 0, 0, 0, 1}, Port, [inet6 | Opts], Timeout) of
                {ok, _} = Ok -> Ok;
                _ -> Error
            end;
        Error ->
            Error
    end.

%% Send one framed request (one write) and read one extension reply:
%% {ok, Status, Body}, 'stock' when the daemon closed before the first byte
%% (OTP's epmd does that on every extension command), or {error, _}.
request(Sock, Payload, Code, Timeout) ->
    case conn_send(Sock, [<<(iolist_size(Payload)):16>>, Payload]) of
        ok -> recv_reply(Sock, Code, Timeout);
        {error, closed} -> stock;
        {error, _} = Error -> Error
    end.

%% A connection is a gen_tcp socket or {ssl, SslSocket}.
conn_send({ssl, S}, Data) -> ssl:send(S, Data);
conn_send(Sock, Data) -> gen_tcp:send(Sock, Data).

conn_recv({ssl, S}, N, Timeout) -> ssl:recv(S, N, Timeout);
conn_recv(Sock, N, Timeout) -> gen_tcp:recv(Sock, N, Timeout).

recv_reply(Sock, Code, Timeout) ->
    case conn_recv(Sock, 7, Timeout) of
        {ok, <<Code, _Vsn, Status, Len:32>>} when Len =< ?MAX_REPLY ->
            case recv_body(Sock, Len, Timeout) of
                {ok, Body} -> {ok, Status, Body};
                Error -> Error
            end;
        {ok, Bad} ->
            {error, {distgate_epmd, {bad_reply, Bad}}};
        {error, closed} ->
            stock;
        {error, econnreset} ->
            stock;
        {error, _} = Error ->
            Error
    end.

recv_body(_Sock, 0, _Timeout) ->
    {ok, <<>>};
recv_body(Sock, Len, Timeout) ->
    conn_recv(Sock, Len, Timeout).

close(Result, Sock) ->
    _ = gen_tcp:close(Sock),
    Result.

field(Tag, Value) ->
    [Tag, <<(iolist_size(Value)):16>>, Value].

decode_fields(<<Tag, Len:16, Value:Len/binary, Rest/binary>>) ->
    [{Tag, Value} | decode_fields(Rest)];
decode_fields(<<>>) ->
    [];
decode_fields(_) ->
    throw(malformed).

encode_transport(#transport{proto = Proto, port = Port, family = Family, addr = Addr}) ->
    [field(1, Proto),
     field(2, <<Port:16>>),
     field(4, <<Family>>),
     case Addr of
         undefined -> [];
         {A, B, C, D} -> field(5, <<A, B, C, D>>);
         {A, B, C, D, E, F, G, H} -> field(5, <<A:16, B:16, C:16, D:16, E:16, F:16, G:16, H:16>>)
     end].

%% An ENDPOINT: PROTO, PORT, FAMILY (default 4), ADDR; other tags skipped.
decode_transport(Bin) ->
    lists:foldl(fun decode_transport_field/2,
                #transport{proto = <<>>, port = 0, family = 4},
                decode_fields(Bin)).

decode_transport_field({1, Proto}, T) -> T#transport{proto = Proto};
decode_transport_field({2, <<Port:16>>}, T) -> T#transport{port = Port};
decode_transport_field({4, <<4>>}, T) -> T#transport{family = 4};
decode_transport_field({4, <<6>>}, T) -> T#transport{family = 6};
decode_transport_field({4, <<_>>}, T) -> T#transport{family = other};
decode_transport_field({5, <<A, B, C, D>>}, T) -> T#transport{addr = {A, B, C, D}};
decode_transport_field({5, <<A:16, B:16, C:16, D:16, E:16, F:16, G:16, H:16>>}, T) ->
    T#transport{addr = {A, B, C, D, E, F, G, H}};
decode_transport_field(_, T) -> T.

creation(Body) ->
    try lists:keyfind(1, 1, decode_fields(Body)) of
        {1, <<Creation:32>>} -> {ok, Creation};
        _ -> error
    catch
        throw:malformed -> error
    end.

message(Body) ->
    try lists:keyfind(255, 1, decode_fields(Body)) of
        {255, Msg} -> Msg;
        false -> <<>>
    catch
        throw:malformed -> <<>>
    end.

status_name(1) -> name_in_use;
status_name(2) -> bad_request;
status_name(3) -> not_found;
status_name(4) -> denied;
status_name(5) -> unsupported;
status_name(6) -> unavailable;
status_name(7) -> no_route;
status_name(N) -> N.

%%%===================================================================
%%% Helpers
%%%===================================================================

%% The caller's stack as {Module, Function}, innermost first. The VM keeps
%% backtrace_depth (8) frames: call this directly from the callbacks.
caller_frames() ->
    case erlang:process_info(self(), current_stacktrace) of
        {current_stacktrace, Stack} -> [{M, F} || {M, F, _, _} <- Stack];
        _ -> []
    end.

%% The -proto_dist list exactly as net_kernel reads it.
proto_dist() ->
    case init:get_argument(proto_dist) of
        {ok, [Protos]} -> Protos;
        _ -> ["inet_tcp"]
    end.

mode() ->
    persistent_term:get({?MODULE, mode}, unknown).

driver(inet) -> inet_tcp;
driver(inet6) -> inet6_tcp;
driver(Driver) -> Driver.

uniq([]) -> [];
uniq([H | T]) -> [H | uniq([X || X <- T, X =/= H])].

host_string(Host) when is_tuple(Host) -> inet:ntoa(Host);
host_string(Host) -> to_list(Host).

to_list(A) when is_atom(A) -> atom_to_list(A);
to_list(L) when is_list(L) -> L;
to_list(B) when is_binary(B) -> unicode:characters_to_list(B).

to_bin(X) -> unicode:characters_to_binary(to_list(X)).
