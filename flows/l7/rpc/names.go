package rpc

// Program numbers (RFC 5531 appendix C and the IANA ONC RPC registry).
const (
	progPortmap = 100000
	progNFS     = 100003
	progMount   = 100005
)

func programName(p uint32) string {
	switch p {
	case progPortmap:
		return "portmapper"
	case 100001:
		return "rstatd"
	case 100002:
		return "rusersd"
	case progNFS:
		return "nfs"
	case 100004:
		return "ypserv"
	case progMount:
		return "mountd"
	case 100007:
		return "ypbind"
	case 100009:
		return "yppasswdd"
	case 100011:
		return "rquotad"
	case 100021:
		return "nlockmgr"
	case 100024:
		return "status"
	case 100227:
		return "nfs_acl"
	case 150001:
		return "pcnfsd"
	}
	return ""
}

// NFSv2 procedures (RFC 1094 section 2.2).
var nfs2Procs = [...]string{
	"NULL", "GETATTR", "SETATTR", "ROOT", "LOOKUP", "READLINK", "READ",
	"WRITECACHE", "WRITE", "CREATE", "REMOVE", "RENAME", "LINK", "SYMLINK",
	"MKDIR", "RMDIR", "READDIR", "STATFS",
}

const (
	nfs2Lookup = 4
	nfs2Read   = 6
	nfs2Write  = 8
	nfs2Create = 9
	nfs2Mkdir  = 14
)

// NFSv3 procedures (RFC 1813 section 3).
var nfs3Procs = [...]string{
	"NULL", "GETATTR", "SETATTR", "LOOKUP", "ACCESS", "READLINK", "READ",
	"WRITE", "CREATE", "MKDIR", "SYMLINK", "MKNOD", "REMOVE", "RMDIR",
	"RENAME", "LINK", "READDIR", "READDIRPLUS", "FSSTAT", "FSINFO",
	"PATHCONF", "COMMIT",
}

const (
	nfs3Lookup  = 3
	nfs3Read    = 6
	nfs3Write   = 7
	nfs3Create  = 8
	nfs3Mkdir   = 9
	nfs3Symlink = 10
	nfs3Mknod   = 11
)

var nfs4Procs = [...]string{"NULL", "COMPOUND"}

// NFSv4 operations (RFC 7530 section 16, RFC 8881 section 18, RFC 7862
// section 15, RFC 8276 section 8).
var nfs4Ops = [...]string{
	3: "ACCESS", 4: "CLOSE", 5: "COMMIT", 6: "CREATE", 7: "DELEGPURGE",
	8: "DELEGRETURN", 9: "GETATTR", 10: "GETFH", 11: "LINK", 12: "LOCK",
	13: "LOCKT", 14: "LOCKU", 15: "LOOKUP", 16: "LOOKUPP", 17: "NVERIFY",
	18: "OPEN", 19: "OPENATTR", 20: "OPEN_CONFIRM", 21: "OPEN_DOWNGRADE",
	22: "PUTFH", 23: "PUTPUBFH", 24: "PUTROOTFH", 25: "READ", 26: "READDIR",
	27: "READLINK", 28: "REMOVE", 29: "RENAME", 30: "RENEW", 31: "RESTOREFH",
	32: "SAVEFH", 33: "SECINFO", 34: "SETATTR", 35: "SETCLIENTID",
	36: "SETCLIENTID_CONFIRM", 37: "VERIFY", 38: "WRITE",
	39: "RELEASE_LOCKOWNER", 40: "BACKCHANNEL_CTL", 41: "BIND_CONN_TO_SESSION",
	42: "EXCHANGE_ID", 43: "CREATE_SESSION", 44: "DESTROY_SESSION",
	45: "FREE_STATEID", 46: "GET_DIR_DELEGATION", 47: "GETDEVICEINFO",
	48: "GETDEVICELIST", 49: "LAYOUTCOMMIT", 50: "LAYOUTGET",
	51: "LAYOUTRETURN", 52: "SECINFO_NO_NAME", 53: "SEQUENCE", 54: "SET_SSV",
	55: "TEST_STATEID", 56: "WANT_DELEGATION", 57: "DESTROY_CLIENTID",
	58: "RECLAIM_COMPLETE", 59: "ALLOCATE", 60: "COPY", 61: "COPY_NOTIFY",
	62: "DEALLOCATE", 63: "IO_ADVISE", 64: "LAYOUTERROR", 65: "LAYOUTSTATS",
	66: "OFFLOAD_CANCEL", 67: "OFFLOAD_STATUS", 68: "READ_PLUS", 69: "SEEK",
	70: "WRITE_SAME", 71: "CLONE", 72: "GETXATTR", 73: "SETXATTR",
	74: "LISTXATTRS", 75: "REMOVEXATTR",
}

const (
	op4Access       = 3
	op4Close        = 4
	op4Commit       = 5
	op4Create       = 6
	op4DelegPurge   = 7
	op4DelegReturn  = 8
	op4Getattr      = 9
	op4Getfh        = 10
	op4Link         = 11
	op4Lock         = 12
	op4Lockt        = 13
	op4Locku        = 14
	op4Lookup       = 15
	op4Lookupp      = 16
	op4Nverify      = 17
	op4Open         = 18
	op4Openattr     = 19
	op4OpenConfirm  = 20
	op4OpenDowngr   = 21
	op4Putfh        = 22
	op4Putpubfh     = 23
	op4Putrootfh    = 24
	op4Read         = 25
	op4Readdir      = 26
	op4Readlink     = 27
	op4Remove       = 28
	op4Rename       = 29
	op4Renew        = 30
	op4Restorefh    = 31
	op4Savefh       = 32
	op4Secinfo      = 33
	op4Setattr      = 34
	op4Setclientid  = 35
	op4SetclientidC = 36
	op4Verify       = 37
	op4Write        = 38
	op4RelLockowner = 39
	op4BindConn     = 41
	op4DestroySess  = 44
	op4FreeStateid  = 45
	op4GetDevInfo   = 47
	op4LayoutGet    = 50
	op4SecinfoNN    = 52
	op4Sequence     = 53
	op4TestStateid  = 55
	op4DestroyClid  = 57
	op4ReclaimCompl = 58
	op4Allocate     = 59
	op4Deallocate   = 62
	op4OffloadCncl  = 66
	op4OffloadStat  = 67
	op4ReadPlus     = 68
	op4Seek         = 69
	op4Clone        = 71
	op4Getxattr     = 72
	op4Setxattr     = 73
	op4Listxattrs   = 74
	op4Removexattr  = 75
)

// Portmapper v2 (RFC 1833 section 3.2) and rpcbind v3/v4 (section 2.2).
var pmap2Procs = [...]string{"NULL", "SET", "UNSET", "GETPORT", "DUMP", "CALLIT"}
var rpcb3Procs = [...]string{"NULL", "SET", "UNSET", "GETADDR", "DUMP", "CALLIT", "GETTIME", "UADDR2TADDR", "TADDR2UADDR"}
var rpcb4Procs = [...]string{"NULL", "SET", "UNSET", "GETADDR", "DUMP", "BCAST", "GETTIME", "UADDR2TADDR", "TADDR2UADDR", "GETVERSADDR", "INDIRECT", "GETADDRLIST", "GETSTAT"}

const (
	pmapGetport = 3 // v2 GETPORT, v3/v4 GETADDR
	rpcbGetVers = 9 // v4 GETVERSADDR
)

// MOUNT v1-v3 (RFC 1813 appendix I).
var mountProcs = [...]string{"NULL", "MNT", "DUMP", "UMNT", "UMNTALL", "EXPORT"}

const mountMnt = 1

func lookup(t []string, i uint32) string {
	if uint64(i) < uint64(len(t)) {
		return t[i]
	}
	return ""
}

// procName names procedure proc of program prog version vers; "" if unknown.
func procName(prog, vers, proc uint32) string {
	switch prog {
	case progNFS:
		switch vers {
		case 2:
			return lookup(nfs2Procs[:], proc)
		case 3:
			return lookup(nfs3Procs[:], proc)
		case 4:
			return lookup(nfs4Procs[:], proc)
		}
	case progPortmap:
		switch vers {
		case 2:
			return lookup(pmap2Procs[:], proc)
		case 3:
			return lookup(rpcb3Procs[:], proc)
		case 4:
			return lookup(rpcb4Procs[:], proc)
		}
	case progMount:
		return lookup(mountProcs[:], proc)
	}
	return ""
}

func authName(flavor uint32) string {
	switch flavor {
	case 0:
		return "none"
	case 1:
		return "sys"
	case 2:
		return "short"
	case 3:
		return "dh"
	case 6:
		return "rpcsec_gss"
	}
	return "other"
}
