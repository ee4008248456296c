package trust_test

import (
	"fmt"

	"github.com/podid/podid/internal/trust"
)

func Example() {
	// The trust policy of an IRSA role, URL-encoded as IAM's GetRole returns it.
	doc, err := trust.Parse("%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C" +
		"%22Principal%22%3A%7B%22Service%22%3A%22pods.eks.amazonaws.com%22%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%5D%7D")
	if err != nil {
		fmt.Println(err)
		return
	}
	req := trust.Request{Cluster: "eks-workshop", Namespace: "carts", ServiceAccount: "carts"}
	rep := trust.Evaluate(doc, req)
	fmt.Println(rep.AssumeRole.Decision, rep.TagSession.Decision, rep.OK())
	for _, p := range rep.Problems {
		fmt.Println(p.Code+":", p.Message)
	}
	fixed, changed, err := trust.Fix(doc, req, trust.FixOptions{})
	fmt.Println(changed, err)
	fmt.Print(trust.Diff(doc.String(), fixed))
	// Output:
	// Allowed ImplicitDeny false
	// missing-tag-session: the trust policy does not allow sts:TagSession for pods.eks.amazonaws.com
	// true <nil>
	// --- current
	// +++ fixed
	// @@ -6,7 +6,10 @@
	//        "Principal": {
	//          "Service": "pods.eks.amazonaws.com"
	//        },
	// -      "Action": "sts:AssumeRole"
	// +      "Action": [
	// +        "sts:AssumeRole",
	// +        "sts:TagSession"
	// +      ]
	//      }
	//    ]
	//  }
}
